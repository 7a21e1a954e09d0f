package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// DumpInput names what DumpDiagnostics collects.
type DumpInput struct {
	Client     kubernetes.Interface
	Namespaces []string
	// Dir receives <namespace>/pods/<pod>-<container>.log, events.txt and
	// the objects as YAML (what `kubectl describe` would be read from).
	Dir string
}

// DumpDiagnostics saves pod logs (current and previous), events and the
// namespaces' objects under Dir. It goes on past errors and returns them
// joined, so one missing log never hides the rest.
func DumpDiagnostics(ctx context.Context, in DumpInput) error {
	var errs []error
	for _, ns := range in.Namespaces {
		dir := filepath.Join(in.Dir, ns)
		if err := os.MkdirAll(filepath.Join(dir, "pods"), 0o755); err != nil {
			return fmt.Errorf("failed to create %s: %w", dir, err)
		}
		errs = append(errs, dumpPods(ctx, in.Client, ns, dir), dumpEvents(ctx, in.Client, ns, dir), dumpObjects(ctx, in.Client, ns, dir))
	}
	return errors.Join(append(errs, dumpCluster(ctx, in.Client, in.Dir))...)
}

// MetricsAPIService is the APIService metrics-server serves; its status
// says why the HPA has no figures when it has none.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

// dumpCluster saves the cluster-scoped objects a failure is read from: the
// nodes (conditions, allocatable, pressure) and the metrics APIService.
func dumpCluster(ctx context.Context, c kubernetes.Interface, dir string) error {
	var errs []error
	if nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		errs = append(errs, fmt.Errorf("failed to list nodes: %w", err))
	} else {
		errs = append(errs, writeYAML(filepath.Join(dir, "nodes.yaml"), nodes))
	}
	// Through the discovery REST client: the aggregator's typed client is
	// not worth a dependency for one GET. (Fake clientsets have none.)
	rc := c.Discovery().RESTClient()
	if rc == nil {
		return errors.Join(errs...)
	}
	raw, err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices", MetricsAPIService).DoRaw(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("failed to get apiservice %s: %w", MetricsAPIService, err))
	} else {
		errs = append(errs, os.WriteFile(filepath.Join(dir, "apiservice-metrics.json"), raw, 0o644))
	}
	return errors.Join(errs...)
}

func writeYAML(path string, obj any) error {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, b, 0o644)
}

func dumpPods(ctx context.Context, c kubernetes.Interface, ns, dir string) error {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("failed to list pods in %s: %w", ns, err)
	}
	var errs []error
	for _, p := range pods.Items {
		containers := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
		for _, ctr := range containers {
			for _, previous := range []bool{false, true} {
				name := fmt.Sprintf("%s-%s.log", p.Name, ctr.Name)
				if previous {
					name = fmt.Sprintf("%s-%s.previous.log", p.Name, ctr.Name)
				}
				rc, err := c.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, Previous: previous}).Stream(ctx)
				if err != nil {
					if !previous {
						errs = append(errs, fmt.Errorf("failed to get logs of %s/%s: %w", p.Name, ctr.Name, err))
					}
					continue
				}
				errs = append(errs, writeStream(filepath.Join(dir, "pods", name), rc))
			}
		}
	}
	return errors.Join(errs...)
}

func dumpEvents(ctx context.Context, c kubernetes.Interface, ns, dir string) error {
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("failed to list events in %s: %w", ns, err)
	}
	sort.Slice(evs.Items, func(i, j int) bool { return eventTime(evs.Items[i]).Time.Before(eventTime(evs.Items[j]).Time) })
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "%s\t%s\t%s/%s\t%s\t%s\n", eventTime(e).Format("15:04:05"), e.Type,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return os.WriteFile(filepath.Join(dir, "events.txt"), []byte(b.String()), 0o644)
}

func eventTime(e corev1.Event) metav1.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp
	}
	return metav1.NewTime(e.EventTime.Time)
}

func dumpObjects(ctx context.Context, c kubernetes.Interface, ns, dir string) error {
	lists := map[string]func() (runtime.Object, error){
		"pods":        func() (runtime.Object, error) { return c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}) },
		"services":    func() (runtime.Object, error) { return c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}) },
		"deployments": func() (runtime.Object, error) { return c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}) },
		"jobs":        func() (runtime.Object, error) { return c.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}) },
		"statefulsets": func() (runtime.Object, error) {
			return c.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		},
		"pvcs": func() (runtime.Object, error) {
			return c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		},
		"hpas": func() (runtime.Object, error) {
			return c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		},
		"replicasets": func() (runtime.Object, error) {
			return c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		},
		"endpointslices": func() (runtime.Object, error) {
			return c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		},
	}
	var errs []error
	for name, list := range lists {
		obj, err := list()
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to list %s in %s: %w", name, ns, err))
			continue
		}
		errs = append(errs, writeYAML(filepath.Join(dir, name+".yaml"), obj))
	}
	return errors.Join(errs...)
}

func writeStream(path string, rc io.ReadCloser) error {
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return f.Close()
}
