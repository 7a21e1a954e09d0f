package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flts/flts-e2e/pkg/report"
)

// Sampler records the inference Deployment's replica count and its pods'
// CPU use (from the metrics API) while a level runs; pass its Observe as
// Input.Observe.
type Sampler struct {
	client     kubernetes.Interface
	namespace  string
	deployment string
	selector   string
	cpuEvery   time.Duration
	log        *slog.Logger
	// cpu reads the metrics API; replaced in tests.
	cpu func(ctx context.Context) (map[string]int64, error)

	mu       sync.Mutex
	replicas []report.Sample
	podCPU   map[string][]report.Sample
	lastCPU  time.Time
	warned   bool
}

// NewSampler samples Deployment `deployment` and the pods matching
// `app.kubernetes.io/name=<deployment>`. CPU is read at most every 10 s:
// metrics-server refreshes no faster than that.
func NewSampler(client kubernetes.Interface, namespace, deployment string, logger *slog.Logger) *Sampler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sampler{client: client, namespace: namespace, deployment: deployment,
		selector: LabelName + "=" + deployment, cpuEvery: 10 * time.Second, log: logger, podCPU: map[string][]report.Sample{}}
	s.cpu = s.metricsAPI
	return s
}

// Observe takes one sample (errors are logged once and skipped: a missing
// sample must not fail the load level).
func (s *Sampler) Observe(t time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.client.AppsV1().Deployments(s.namespace).Get(ctx, s.deployment, metav1.GetOptions{})
	if err != nil {
		s.warnOnce("failed to read replicas", err)
	} else {
		s.replicas = append(s.replicas, report.Sample{T: t.UTC(), Value: float64(d.Status.Replicas)})
	}
	if t.Sub(s.lastCPU) < s.cpuEvery {
		return
	}
	s.lastCPU = t
	usage, err := s.cpu(ctx)
	if err != nil {
		s.warnOnce("failed to read pod CPU from the metrics API", err)
		return
	}
	for pod, milli := range usage {
		s.podCPU[pod] = append(s.podCPU[pod], report.Sample{T: t.UTC(), Value: float64(milli)})
	}
}

func (s *Sampler) warnOnce(msg string, err error) {
	if !s.warned {
		s.warned = true
		s.log.Warn(msg+" (further sampling errors are not logged)", "error", err)
	}
}

// Replicas returns the replica samples so far.
func (s *Sampler) Replicas() []report.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Sample(nil), s.replicas...)
}

// PodCPU returns the CPU samples (millicores) per pod so far.
func (s *Sampler) PodCPU() map[string][]report.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]report.Sample, len(s.podCPU))
	for k, v := range s.podCPU {
		out[k] = append([]report.Sample(nil), v...)
	}
	return out
}

func (s *Sampler) metricsAPI(ctx context.Context) (map[string]int64, error) {
	rc := s.client.Discovery().RESTClient()
	if rc == nil {
		return nil, fmt.Errorf("client has no REST client for the metrics API")
	}
	raw, err := rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", s.namespace, "pods").
		Param("labelSelector", s.selector).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to get pod metrics: %w", err)
	}
	return ParsePodMetrics(raw)
}

// ParsePodMetrics sums each pod's container CPU usage (millicores) from a
// metrics.k8s.io PodMetricsList.
func ParsePodMetrics(raw []byte) (map[string]int64, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Containers []struct {
				Usage map[string]string `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("failed to decode pod metrics: %w", err)
	}
	out := map[string]int64{}
	for _, it := range list.Items {
		var milli int64
		for _, c := range it.Containers {
			q, err := resource.ParseQuantity(c.Usage["cpu"])
			if err != nil {
				return nil, fmt.Errorf("failed to parse CPU of pod %s: %w", it.Metadata.Name, err)
			}
			milli += q.MilliValue()
		}
		out[it.Metadata.Name] = milli
	}
	return out, nil
}
