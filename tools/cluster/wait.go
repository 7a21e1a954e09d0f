package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Timeouts of the readiness stages; generous for a 2-core machine.
const (
	nodeReadyTimeout  = 3 * time.Minute
	corednsTimeout    = 3 * time.Minute
	metricsAPITimeout = 4 * time.Minute
	pollInterval      = 2 * time.Second
	metricsAPIService = "v1beta1.metrics.k8s.io"
)

// poll calls check every pollInterval (apimachinery's wait, the tools'
// one way to wait) until it reports done, fails hard, or timeout passes.
// The last soft reason is part of the timeout error.
func poll(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (done bool, reason string, err error)) error {
	last := "not checked yet"
	var hard error
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		done, reason, err := check(ctx)
		if err != nil {
			hard = err
			return false, err
		}
		last = reason
		return done, nil
	})
	switch {
	case err == nil:
		return nil
	case hard != nil:
		return fmt.Errorf("failed to wait for %s: %w", what, hard)
	case ctx.Err() != nil:
		return fmt.Errorf("stopped waiting for %s (%s): %w", what, last, ctx.Err())
	default:
		return fmt.Errorf("failed to wait for %s within %s: %s", what, timeout, last)
	}
}

func (c *Cluster) healthy(ctx context.Context) bool {
	cs, err := c.clientset()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return false
	}
	for _, n := range nodes.Items {
		if !nodeReady(&n) {
			return false
		}
	}
	return true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitCore waits for the node and CoreDNS. CoreDNS Ready also means
// kube-proxy routes Service IPs, which metrics-server needs at start (it
// panics when the kubernetes Service is not routed yet).
func (c *Cluster) waitCore(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	done := stage(c.log, "node Ready")
	defer done.Stop()
	err = poll(ctx, nodeReadyTimeout, "node Ready", func(ctx context.Context) (bool, string, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(nodes.Items) == 0 {
			return false, "no nodes registered", nil
		}
		for _, n := range nodes.Items {
			if !nodeReady(&n) {
				return false, "node " + n.Name + " not Ready", nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	done.Done()

	done = stage(c.log, "CoreDNS Ready")
	defer done.Stop()
	err = poll(ctx, corednsTimeout, "CoreDNS Ready", func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ReadyReplicas < want {
			return false, fmt.Sprintf("coredns %d/%d ready", d.Status.ReadyReplicas, want), nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	done.Done()
	return nil
}

// waitMetrics waits until the metrics API serves node CPU figures.
func (c *Cluster) waitMetrics(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create dynamic client: %w", err)
	}
	apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	done := stage(c.log, "metrics API Available")
	defer done.Stop()
	err = poll(ctx, metricsAPITimeout, "APIService "+metricsAPIService+" Available", func(ctx context.Context) (bool, string, error) {
		u, err := dyn.Resource(apiServices).Get(ctx, metricsAPIService, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cnd := range conds {
			m, _ := cnd.(map[string]any)
			if m["type"] == "Available" {
				if m["status"] == "True" {
					return true, "", nil
				}
				return false, fmt.Sprintf("Available=%v: %v %v", m["status"], m["reason"], m["message"]), nil
			}
		}
		return false, "no Available condition yet", nil
	})
	if err != nil {
		return err
	}
	done.Done()

	done = stage(c.log, "node metrics")
	defer done.Stop()
	err = poll(ctx, metricsAPITimeout, "node metrics", func(ctx context.Context) (bool, string, error) {
		raw, err := cs.RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		n, err := countNodeMetrics(raw)
		if err != nil {
			return false, "", err
		}
		if n == 0 {
			return false, "metrics API lists no node with CPU usage yet", nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	done.Done()
	return nil
}

// countNodeMetrics counts NodeMetrics items carrying a CPU usage figure.
func countNodeMetrics(raw []byte) (int, error) {
	var list struct {
		Items []struct {
			Usage map[string]string `json:"usage"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, fmt.Errorf("failed to decode node metrics: %w", err)
	}
	n := 0
	for _, it := range list.Items {
		if it.Usage["cpu"] != "" {
			n++
		}
	}
	return n, nil
}
