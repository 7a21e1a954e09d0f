package framework

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func e2ePeriods() Periods {
	return Periods{
		HPASync:          10 * time.Second,
		MetricResolution: 15 * time.Second,
		ScaleUp:          ScalingRules{Policies: []Policy{{Percent: true, Value: 100, Period: 15 * time.Second}, {Value: 4, Period: 15 * time.Second}}},
		ScaleDown:        ScalingRules{Window: 30 * time.Second, Policies: []Policy{{Percent: true, Value: 100, Period: 15 * time.Second}}},
		MinReplicas:      2,
		MaxReplicas:      8,
	}
}

func TestStepsToReach(t *testing.T) {
	seed := ScalingRules{Policies: []Policy{{Percent: true, Value: 25, Period: 60 * time.Second}}}
	// 8 -> 6 -> 4 -> 3 -> 2 with ceil(25 %) per period.
	if got := seed.stepsToReach(8, 2); got != 4 {
		t.Fatalf("seed policy 8->2 steps = %d, want 4", got)
	}
	if got := e2ePeriods().ScaleDown.stepsToReach(8, 2); got != 1 {
		t.Fatalf("100%% policy 8->2 steps = %d, want 1", got)
	}
	if got := seed.stepsToReach(2, 2); got != 0 {
		t.Fatalf("already at min: steps = %d, want 0", got)
	}
	if got := (ScalingRules{}).stepsToReach(3, 2); got != 100 {
		t.Fatalf("no policy: steps = %d, want the 100 cap", got)
	}
}

func TestBudgetsFollowPeriods(t *testing.T) {
	p := e2ePeriods()
	if got, want := p.ScaleUpDecisionBudget(), 2*15*time.Second+2*10*time.Second+ScheduleSlack; got != want {
		t.Fatalf("ScaleUpDecisionBudget = %v, want %v", got, want)
	}
	// The e2e cluster: 10 s resolution and sync, 30 s window, one 100 %
	// step; the last sync is the one that shows the scale in the status.
	kind := e2ePeriods()
	kind.MetricResolution = 10 * time.Second
	if got, want := kind.ScaleDownBudget(8), KubeletStatsLag+2*10*time.Second+3*10*time.Second+30*time.Second+15*time.Second+ScheduleSlack; got != want {
		t.Fatalf("ScaleDownBudget(8) = %v, want %v", got, want)
	}
	short := p.ScaleDownBudget(8)
	p.ScaleDown.Window = 300 * time.Second
	if long := p.ScaleDownBudget(8); long-short != 270*time.Second {
		t.Fatalf("a 270 s longer window must add 270 s: %v vs %v", long, short)
	}
	if p.ScaleUpServingBudget() <= p.ScaleUpDecisionBudget() {
		t.Fatal("serving budget must include pod start-up")
	}
}

func TestDiscoverPeriods(t *testing.T) {
	cm := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager-x", Namespace: "kube-system", Labels: map[string]string{"component": "kube-controller-manager"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{
			"kube-controller-manager", "--horizontal-pod-autoscaler-sync-period=10s", "--v=2"}}}},
	}
	ms := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "metrics-server", Args: []string{"--metric-resolution", "15s"}}}}}},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "inference", Namespace: "flts"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			MinReplicas: ptr.To[int32](2), MaxReplicas: 8,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr.To[int32](30),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
				},
			},
		},
	}
	client := fake.NewClientset(cm, ms, hpa)
	p, err := DiscoverPeriods(context.Background(), DiscoverPeriodsInput{Client: client, Namespace: "flts", HPAName: "inference"})
	if err != nil {
		t.Fatal(err)
	}
	if p.HPASync != 10*time.Second || p.MetricResolution != 15*time.Second {
		t.Fatalf("periods = %+v", p)
	}
	if p.MinReplicas != 2 || p.MaxReplicas != 8 || p.ScaleDown.Window != 30*time.Second || len(p.ScaleDown.Policies) != 1 {
		t.Fatalf("HPA rules = %+v", p)
	}
	// Scale-up not set: the API's defaults apply (window 0, 100 % or 4 pods per 15 s).
	if p.ScaleUp.Window != 0 || len(p.ScaleUp.Policies) != 2 {
		t.Fatalf("default scale-up rules = %+v", p.ScaleUp)
	}
	if _, err := DiscoverPeriods(context.Background(), DiscoverPeriodsInput{Client: fake.NewClientset(cm, ms), Namespace: "flts", HPAName: "inference"}); err == nil {
		t.Fatal("want an error when the HPA is missing")
	}
}

func TestDiscoverPeriodsFindsMetricsServerByItsService(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "inference", Namespace: "flts"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 4},
	}
	ms := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ms", Namespace: "monitoring"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "metrics-server", Args: []string{"--metric-resolution=20s"}}}}}},
	}
	in := DiscoverPeriodsInput{Client: fake.NewClientset(hpa, ms), Namespace: "flts", HPAName: "inference",
		MetricsServer: types.NamespacedName{Namespace: "monitoring", Name: "ms"}}
	p, err := DiscoverPeriods(context.Background(), in)
	if err != nil || p.MetricResolution != 20*time.Second {
		t.Fatalf("named metrics-server: periods %+v, err %v", p, err)
	}
	// A metrics API served by something that is not a Deployment (a
	// managed add-on): metrics-server's default, the generous one.
	in.MetricsServer.Name = "absent"
	p, err = DiscoverPeriods(context.Background(), in)
	if err != nil || p.MetricResolution != defaultMetricResolution {
		t.Fatalf("no Deployment: periods %+v, err %v; want the default resolution", p, err)
	}
}
