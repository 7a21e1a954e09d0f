package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/pkg/config"
)

func TestParse(t *testing.T) {
	env := config.MapEnv(map[string]string{"POD_NAMESPACE": "flts"})
	if o, err := parse(nil, env, io.Discard); err != nil || o.namespace != "flts" || o.listen != ":9100" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	for args, want := range map[string]string{
		"--listen 9100":       "not host:port",
		"--timeout 0s":        "--timeout must be > 0",
		"--log-level chatty":  "--log-level",
		"--namespace= extra":  "--namespace (or POD_NAMESPACE) is required",
		"--namespace=a extra": "unexpected arguments",
	} {
		_, err := parse(strings.Fields(args), config.MapEnv(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", args, err, want)
		}
	}
}

func TestCollectorExportsKubeStateMetricsSeries(t *testing.T) {
	two := int32(2)
	hpa := autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "flts", Name: "inference"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &two, MaxReplicas: 8},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 8, DesiredReplicas: 8, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue},
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse},
		}},
	}
	var listErr error
	c := &collector{list: func(context.Context) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
		return []autoscalingv2.HorizontalPodAutoscaler{hpa}, listErr
	}, timeout: time.Second, log: slog.New(slog.DiscardHandler)}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP flts_hpa_exporter_list_success 1 if the last scrape listed the HPAs, 0 if the LIST failed.
# TYPE flts_hpa_exporter_list_success gauge
flts_hpa_exporter_list_success 1
# HELP kube_horizontalpodautoscaler_spec_max_replicas Upper limit for the number of pods that can be set by the autoscaler.
# TYPE kube_horizontalpodautoscaler_spec_max_replicas gauge
kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler="inference",namespace="flts"} 8
# HELP kube_horizontalpodautoscaler_spec_min_replicas Lower limit for the number of pods that can be set by the autoscaler.
# TYPE kube_horizontalpodautoscaler_spec_min_replicas gauge
kube_horizontalpodautoscaler_spec_min_replicas{horizontalpodautoscaler="inference",namespace="flts"} 2
# HELP kube_horizontalpodautoscaler_status_condition The condition of this autoscaler.
# TYPE kube_horizontalpodautoscaler_status_condition gauge
kube_horizontalpodautoscaler_status_condition{condition="AbleToScale",horizontalpodautoscaler="inference",namespace="flts",status="false"} 0
kube_horizontalpodautoscaler_status_condition{condition="AbleToScale",horizontalpodautoscaler="inference",namespace="flts",status="true"} 1
kube_horizontalpodautoscaler_status_condition{condition="AbleToScale",horizontalpodautoscaler="inference",namespace="flts",status="unknown"} 0
kube_horizontalpodautoscaler_status_condition{condition="ScalingActive",horizontalpodautoscaler="inference",namespace="flts",status="false"} 1
kube_horizontalpodautoscaler_status_condition{condition="ScalingActive",horizontalpodautoscaler="inference",namespace="flts",status="true"} 0
kube_horizontalpodautoscaler_status_condition{condition="ScalingActive",horizontalpodautoscaler="inference",namespace="flts",status="unknown"} 0
# HELP kube_horizontalpodautoscaler_status_current_replicas Current number of replicas of pods managed by this autoscaler.
# TYPE kube_horizontalpodautoscaler_status_current_replicas gauge
kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="inference",namespace="flts"} 8
# HELP kube_horizontalpodautoscaler_status_desired_replicas Desired number of replicas of pods managed by this autoscaler.
# TYPE kube_horizontalpodautoscaler_status_desired_replicas gauge
kube_horizontalpodautoscaler_status_desired_replicas{horizontalpodautoscaler="inference",namespace="flts"} 8
`)); err != nil {
		t.Error(err)
	}

	// A failed LIST is said, not shown as "no HPA".
	listErr = errors.New("forbidden")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP flts_hpa_exporter_list_success 1 if the last scrape listed the HPAs, 0 if the LIST failed.
# TYPE flts_hpa_exporter_list_success gauge
flts_hpa_exporter_list_success 0
`)); err != nil {
		t.Error(err)
	}
}
