package loadtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

func TestParsePodMetrics(t *testing.T) {
	raw := []byte(`{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[
	 {"metadata":{"name":"inference-a"},"containers":[{"name":"inference","usage":{"cpu":"253124123n","memory":"20Mi"}}]},
	 {"metadata":{"name":"inference-b"},"containers":[{"name":"inference","usage":{"cpu":"1"}},{"name":"side","usage":{"cpu":"5m"}}]}]}`)
	got, err := ParsePodMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got["inference-a"] != 254 || got["inference-b"] != 1005 || len(got) != 2 {
		t.Errorf("got %v", got)
	}
	if _, err := ParsePodMetrics([]byte(`{"items":[{"metadata":{"name":"x"},"containers":[{"usage":{"cpu":"lots"}}]}]}`)); err == nil {
		t.Error("want an error for an unparsable quantity")
	}
}

func TestMeasureTimings(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	samples := []HPASample{
		{T: at(-5), Current: 2, Desired: 2, Ready: 2},
		{T: at(10), Current: 2, Desired: 2, Ready: 2},
		{T: at(20), Current: 2, Desired: 4, Ready: 2},
		{T: at(30), Current: 4, Desired: 6, Ready: 3},
		{T: at(40), Current: 6, Desired: 6, Ready: 6},
		{T: at(60), Current: 6, Desired: 2, Ready: 6}, // load ends at 50
		{T: at(80), Current: 2, Desired: 2, Ready: 2},
		{T: at(90), Current: 2, Desired: 2, Ready: 2},
	}
	got := MeasureTimings(samples, 2, start, at(50))
	want := Timings{FirstScaleUp: 20 * time.Second, NewPodsReady: 30 * time.Second, Peak: 40 * time.Second, PeakReplicas: 6, BackToMin: 30 * time.Second}
	if got != want {
		t.Fatalf("MeasureTimings = %+v, want %+v", got, want)
	}
	if got := MeasureTimings(samples, 2, time.Time{}, time.Time{}); got != (Timings{}) {
		t.Fatalf("no load: MeasureTimings = %+v, want nothing measured", got)
	}
	// Never scaled down: BackToMin stays zero (not observed).
	if got := MeasureTimings(samples[:6], 2, start, at(50)); got.BackToMin != 0 {
		t.Fatalf("BackToMin = %v for a series that never returned", got.BackToMin)
	}
}

func TestSamplerRecordsHPAAndReadyPods(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "inference", Namespace: "flts"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 8},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3,
			CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](120)}}}}},
	}
	pod := func(name string, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flts", Labels: map[string]string{"app.kubernetes.io/name": "inference"}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		}
	}
	cs := fake.NewClientset(hpa, pod("inference-a", corev1.ConditionTrue), pod("inference-b", corev1.ConditionTrue), pod("inference-c", corev1.ConditionFalse))
	s := StartSampler(context.Background(), SamplerInput{Client: cs, Namespace: "flts", HPAName: "inference",
		PodSelector: "app.kubernetes.io/name=inference", Interval: time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Samples()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := s.Stop()
	if len(got) < 3 {
		t.Fatalf("only %d samples", len(got))
	}
	first := got[0]
	if first.Current != 2 || first.Desired != 3 || first.Ready != 2 {
		t.Fatalf("sample = %+v, want current 2, desired 3, ready 2", first)
	}
	if first.CPUPct == nil || *first.CPUPct != 120 || first.MemPct != nil {
		t.Fatalf("utilization = %v / %v, want 120 %% CPU and unknown memory", first.CPUPct, first.MemPct)
	}
	n := len(got)
	time.Sleep(5 * time.Millisecond)
	if len(s.Samples()) != n {
		t.Fatal("sampler kept sampling after Stop")
	}
}

func TestLevelResultFromRun(t *testing.T) {
	s, err := ParseResult(strings.NewReader(readSample(t, "worker-0.log")))
	if err != nil {
		t.Fatal(err)
	}
	samples := []HPASample{
		{T: s.Start.Add(-time.Second), Current: 2, Desired: 2, Ready: 2, PodMilli: map[string]int64{"inference-a": 3}},
		{T: s.Start.Add(2 * time.Second), Current: 2, Desired: 3, Ready: 2, PodMilli: map[string]int64{"inference-a": 40}},
		{T: s.End.Add(time.Second), Current: 2, Desired: 2, Ready: 2},
	}
	l := LevelResult(Input{Users: 3, Workers: 1, Duration: 7 * time.Second}, Result{Summary: s, PerWorker: []loadgen.Summary{s}}, samples, 2)
	// The sample server answered some requests 503: the level fails and says why.
	if l.Passed || !strings.Contains(l.FailureReason, fmt.Sprintf("%d of %d requests failed", s.FailureCount(), s.Requests)) {
		t.Errorf("passed %v reason %q", l.Passed, l.FailureReason)
	}
	if len(l.Replicas) != 3 || len(l.PodCPU["inference-a"]) != 2 || l.PodCPU["inference-a"][1].Value != 40 {
		t.Errorf("series: replicas %v cpu %v", l.Replicas, l.PodCPU)
	}
	if l.FirstScaleUp != 2*time.Second || l.BackToMin != time.Second {
		t.Errorf("timings: first scale-up %v, back to min %v", l.FirstScaleUp, l.BackToMin)
	}
	s.Failures = map[string]int{}
	if l := LevelResult(Input{Users: 3}, Result{Summary: s}, nil, 2); !l.Passed {
		t.Errorf("clean level: %q", l.FailureReason)
	}
}
