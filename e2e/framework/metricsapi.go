package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// WaitForMetricsAPIInput configures WaitForMetricsAPI.
type WaitForMetricsAPIInput struct {
	Client  kubernetes.Interface
	Timeout time.Duration
	Poll    time.Duration
}

// WaitForMetricsAPI waits until the metrics API is available and serves
// node metrics, and returns the Service behind it. The suite never installs
// metrics-server on a cluster it did not create: one without it fails here,
// saying so, rather than in the HPA area minutes later.
func WaitForMetricsAPI(ctx context.Context, in WaitForMetricsAPIInput) types.NamespacedName {
	var svc types.NamespacedName
	Eventually(func(g Gomega) {
		rc := in.Client.Discovery().RESTClient()
		raw, err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices", MetricsAPIService).DoRaw(ctx)
		if apierrors.IsNotFound(err) {
			StopTrying(fmt.Sprintf("the cluster has no metrics API (APIService %s): the HPA needs metrics-server; "+
				"install it (the suite never installs over a cluster it did not create)", MetricsAPIService)).Now()
		}
		g.Expect(err).NotTo(HaveOccurred(), "APIService %s", MetricsAPIService)
		var as apiService
		g.Expect(json.Unmarshal(raw, &as)).To(Succeed())
		g.Expect(as.Spec.Service).NotTo(BeNil(), "APIService %s has no service", MetricsAPIService)
		svc = types.NamespacedName{Namespace: as.Spec.Service.Namespace, Name: as.Spec.Service.Name}
		g.Expect(as.available()).To(BeEmpty(), "APIService %s not Available", MetricsAPIService)
		raw, err = rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
		g.Expect(err).NotTo(HaveOccurred(), "node metrics")
		var nodes struct {
			Items []json.RawMessage `json:"items"`
		}
		g.Expect(json.Unmarshal(raw, &nodes)).To(Succeed())
		g.Expect(nodes.Items).NotTo(BeEmpty(), "the metrics API serves no node metrics yet")
	}).WithContext(ctx).WithTimeout(in.Timeout).WithPolling(in.Poll).Should(Succeed(), "metrics API")
	return svc
}

// apiService is the part of apiregistration.k8s.io/v1 APIService read
// here (the aggregator's client is not worth a dependency for two fields).
type apiService struct {
	Spec struct {
		Service *struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"service"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"conditions"`
	} `json:"status"`
}

// available is "" when the Available condition is True, else why not.
func (a apiService) available() string {
	for _, c := range a.Status.Conditions {
		if c.Type == "Available" {
			if c.Status == "True" {
				return ""
			}
			return fmt.Sprintf("%s: %s", c.Status, c.Message)
		}
	}
	return "no Available condition"
}
