package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"
)

// HPASample is one observation of the HPA and its pods.
type HPASample struct {
	T        time.Time        `json:"t"`
	Current  int32            `json:"current"`
	Desired  int32            `json:"desired"`
	Ready    int              `json:"ready"`
	CPUPct   *int32           `json:"cpu_pct,omitempty"`
	MemPct   *int32           `json:"mem_pct,omitempty"`
	PodMilli map[string]int64 `json:"pod_millicores,omitempty"`
}

// SamplerInput configures StartSampler.
type SamplerInput struct {
	Client      kubernetes.Interface
	Namespace   string
	HPAName     string
	PodSelector string
	Interval    time.Duration
	// Logger gets the first sampling error (later ones repeat it); nil is silent.
	Logger *slog.Logger
}

// Sampler records the HPA's replica counts, the Ready pods and per-pod CPU
// over time, in its own goroutine, so a load level (or the HPA's return to
// its minimum afterwards) is observed at a steady period.
type Sampler struct {
	in      SamplerInput
	mu      sync.Mutex
	samples []HPASample
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartSampler samples every Interval until Stop.
func StartSampler(ctx context.Context, in SamplerInput) *Sampler {
	if in.Interval == 0 {
		in.Interval = 2 * time.Second
	}
	if in.Logger == nil {
		in.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{in: in, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		warned := false
		t := time.NewTicker(in.Interval)
		defer t.Stop()
		for {
			smp, err := s.sample(ctx)
			switch {
			case err == nil:
				s.mu.Lock()
				s.samples = append(s.samples, smp)
				s.mu.Unlock()
			case !warned && ctx.Err() == nil:
				// A missed sample must not fail a load level: say it once.
				warned = true
				in.Logger.Warn("HPA sampling failed (further errors are not logged)", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Samples returns a copy of what was recorded so far.
func (s *Sampler) Samples() []HPASample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]HPASample(nil), s.samples...)
}

// Stop ends sampling and returns every sample.
func (s *Sampler) Stop() []HPASample {
	s.cancel()
	<-s.done
	return s.Samples()
}

func (s *Sampler) sample(ctx context.Context) (HPASample, error) {
	hpa, err := s.in.Client.AutoscalingV2().HorizontalPodAutoscalers(s.in.Namespace).Get(ctx, s.in.HPAName, metav1.GetOptions{})
	if err != nil {
		return HPASample{}, fmt.Errorf("failed to get HPA: %w", err)
	}
	smp := HPASample{T: time.Now(), Current: hpa.Status.CurrentReplicas, Desired: hpa.Status.DesiredReplicas}
	smp.CPUPct, smp.MemPct = Utilization(hpa)
	pods, err := s.in.Client.CoreV1().Pods(s.in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.in.PodSelector})
	if err == nil {
		for i := range pods.Items {
			if p := &pods.Items[i]; p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
				smp.Ready++
			}
		}
	}
	if usage, err := PodCPU(ctx, s.in.Client, s.in.Namespace, s.in.PodSelector); err == nil {
		smp.PodMilli = usage
	}
	return smp, nil
}

// Utilization returns the HPA's current CPU and memory utilization, nil
// where the HPA shows <unknown>.
func Utilization(hpa *autoscalingv2.HorizontalPodAutoscaler) (cpu, mem *int32) {
	for _, m := range hpa.Status.CurrentMetrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			continue
		}
		v := m.Resource.Current.AverageUtilization
		switch m.Resource.Name {
		case corev1.ResourceCPU:
			cpu = v
		case corev1.ResourceMemory:
			mem = v
		}
	}
	return cpu, mem
}

// PodCPU reads per-pod CPU usage (millicores) from the metrics API.
func PodCPU(ctx context.Context, client kubernetes.Interface, namespace, selector string) (map[string]int64, error) {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return nil, fmt.Errorf("client has no REST client for the metrics API")
	}
	raw, err := rc.Get().
		AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", namespace, "pods").
		Param("labelSelector", selector).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read pod metrics in %s: %w", namespace, err)
	}
	return ParsePodMetrics(raw)
}

// ParsePodMetrics sums each pod's container CPU usage (millicores) from a
// metrics.k8s.io PodMetricsList.
func ParsePodMetrics(raw []byte) (map[string]int64, error) {
	var list struct {
		Items []struct {
			Metadata   struct{ Name string } `json:"metadata"`
			Containers []struct {
				Usage map[string]string `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("failed to decode pod metrics: %w", err)
	}
	out := make(map[string]int64, len(list.Items))
	for _, it := range list.Items {
		var milli int64
		for _, c := range it.Containers {
			q, err := resource.ParseQuantity(c.Usage["cpu"])
			if err != nil {
				return nil, fmt.Errorf("failed to parse CPU usage of %s: %w", it.Metadata.Name, err)
			}
			milli += q.MilliValue()
		}
		out[it.Metadata.Name] = milli
	}
	return out, nil
}

// Timings are the HPA's reaction times measured from a sample series.
type Timings struct {
	// FirstScaleUp: load start → desired replicas first above the minimum.
	FirstScaleUp time.Duration `json:"first_scale_up"`
	// NewPodsReady: load start → more than the minimum pods Ready.
	NewPodsReady time.Duration `json:"new_pods_ready"`
	// Peak: load start → the highest current replica count is first seen.
	Peak         time.Duration `json:"peak"`
	PeakReplicas int32         `json:"peak_replicas"`
	// BackToMin: load end → current replicas back at the minimum (and staying).
	BackToMin time.Duration `json:"back_to_min"`
}

// MeasureTimings derives Timings; a zero duration means not observed.
func MeasureTimings(samples []HPASample, min int32, loadStart, loadEnd time.Time) Timings {
	var t Timings
	if loadStart.IsZero() {
		return t // no load was applied: nothing to measure against
	}
	for _, s := range samples {
		if s.T.Before(loadStart) {
			continue
		}
		if t.FirstScaleUp == 0 && s.Desired > min {
			t.FirstScaleUp = s.T.Sub(loadStart)
		}
		if t.NewPodsReady == 0 && int32(s.Ready) > min {
			t.NewPodsReady = s.T.Sub(loadStart)
		}
		if s.Current > t.PeakReplicas && (loadEnd.IsZero() || !s.T.After(loadEnd)) {
			t.PeakReplicas, t.Peak = s.Current, s.T.Sub(loadStart)
		}
	}
	if loadEnd.IsZero() {
		return t
	}
	// The last run of samples at the minimum that lasts to the end.
	for i := len(samples) - 1; i >= 0; i-- {
		s := samples[i]
		if s.T.Before(loadEnd) || s.Current != min {
			break
		}
		t.BackToMin = max(s.T.Sub(loadEnd), time.Nanosecond)
	}
	return t
}
