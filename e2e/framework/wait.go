package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"
)

// Promotion is the promotion record eval serves at /promotion
// (model-promotion/current.json).
type Promotion struct {
	RunID      string             `json:"run_id"`
	ModelType  string             `json:"model_type"`
	ConfigHash string             `json:"config_hash"`
	Score      float64            `json:"score"`
	Metrics    map[string]float64 `json:"metrics"`
	PromotedAt time.Time          `json:"promoted_at"`
}

// GetPromotion reads the current promotion record through the API proxy.
// found is false while nothing was promoted (404).
func GetPromotion(ctx context.Context, proxy *APIProxy, namespace string) (p Promotion, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proxy.ServiceURL(namespace, "eval", 8080)+"/promotion", nil)
	if err != nil {
		return p, false, fmt.Errorf("failed to build promotion request: %w", err)
	}
	resp, err := proxy.Client().Do(req)
	if err != nil {
		return p, false, fmt.Errorf("failed to get promotion: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return p, false, nil
	default:
		return p, false, fmt.Errorf("GET /promotion: HTTP %d: %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, false, fmt.Errorf("failed to decode promotion record %q: %w", body, err)
	}
	return p, true, nil
}

// WaitForPipelineInput configures WaitForPipeline.
type WaitForPipelineInput struct {
	Client    kubernetes.Interface
	Proxy     *APIProxy
	Namespace string
	Timeout   time.Duration
	Poll      time.Duration
	Logger    *slog.Logger
	// NotBefore: only a promotion made at or after this time counts (the
	// install's start), so a record left by an earlier install or run is
	// never taken for this one's.
	NotBefore time.Time
}

// WaitForPipeline waits until eval has promoted a model, logging the
// pipeline's pods at every poll so a long training never looks stuck.
func WaitForPipeline(ctx context.Context, in WaitForPipelineInput) Promotion {
	GinkgoHelper()
	start := time.Now()
	var promo Promotion
	last := ""
	Eventually(func(g Gomega) {
		if s := podSummary(ctx, in.Client, in.Namespace); s != last {
			in.Logger.Info("pipeline progress", "elapsed", time.Since(start).Round(time.Second), "pods", s)
			last = s
		}
		p, found, err := GetPromotion(ctx, in.Proxy, in.Namespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue(), "no model promoted yet")
		g.Expect(p.PromotedAt).NotTo(BeTemporally("<", in.NotBefore), "the promotion of run %s predates this install", p.RunID)
		promo = p
	}).WithContext(ctx).WithTimeout(in.Timeout).WithPolling(in.Poll).Should(Succeed(),
		func() string {
			return "pipeline did not promote a model; pods: " + podSummary(ctx, in.Client, in.Namespace)
		})
	in.Logger.Info("model promoted", "run_id", promo.RunID, "model_type", promo.ModelType, "waited", time.Since(start).Round(time.Second))
	return promo
}

// podSummary renders "name=phase(ready)" for every pod, sorted.
func podSummary(ctx context.Context, c kubernetes.Interface, ns string) string {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "unavailable: " + err.Error()
	}
	var parts []string
	for i := range pods.Items {
		p := &pods.Items[i]
		state := string(p.Status.Phase)
		if PodReady(p) {
			state += "/ready"
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				state += "/" + w.Reason
			}
			if cs.RestartCount > 0 {
				state += fmt.Sprintf("/restarts=%d", cs.RestartCount)
			}
		}
		parts = append(parts, p.Name+"="+state)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// WaitForDeploymentInput configures WaitForDeploymentReady.
type WaitForDeploymentInput struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	MinReady  int32
	Timeout   time.Duration
	Poll      time.Duration
}

// WaitForDeploymentReady waits until the Deployment has at least MinReady
// ready replicas and no old ones left.
func WaitForDeploymentReady(ctx context.Context, in WaitForDeploymentInput) {
	GinkgoHelper()
	start := time.Now()
	Eventually(func(g Gomega) {
		d, err := in.Client.AppsV1().Deployments(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Status.ObservedGeneration).To(BeNumerically(">=", d.Generation))
		g.Expect(d.Status.ReadyReplicas).To(BeNumerically(">=", in.MinReady),
			"Deployment %s/%s: %d ready, %d updated, %d total", in.Namespace, in.Name,
			d.Status.ReadyReplicas, d.Status.UpdatedReplicas, d.Status.Replicas)
		g.Expect(d.Status.UpdatedReplicas).To(Equal(d.Status.Replicas), "rollout in progress")
	}).WithContext(ctx).WithTimeout(in.Timeout).WithPolling(in.Poll).Should(Succeed())
	GinkgoWriter.Printf("Deployment %s/%s ready after %s\n", in.Namespace, in.Name, time.Since(start).Round(time.Second))
}

// PodReady reports whether the pod is Ready and not terminating: a pod
// being deleted may still show Ready while it drains.
func PodReady(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && podutils.IsPodReady(p)
}
