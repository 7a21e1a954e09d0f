package framework

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Kubernetes defaults, used when a component does not set the flag.
const (
	defaultHPASyncPeriod    = 15 * time.Second
	defaultMetricResolution = 60 * time.Second
	// PodStartup bounds image-present pod start to Ready for the pipeline's
	// static Go binaries (model load from the object store included).
	PodStartup = 45 * time.Second
	// ScheduleSlack absorbs API round-trips and controller queueing that
	// no configured period accounts for.
	ScheduleSlack = 15 * time.Second
	// KubeletStatsLag is how old the kubelet's CPU figures can be when
	// metrics-server scrapes them: cAdvisor refreshes them every
	// housekeeping interval (10 s by default, jittered up to 15 s).
	KubeletStatsLag = 15 * time.Second
)

// Periods are the cluster's own periods the HPA timing depends on, read
// from the running components, so budgets follow the configuration.
type Periods struct {
	// HPASync is kube-controller-manager's --horizontal-pod-autoscaler-sync-period.
	HPASync time.Duration
	// MetricResolution is metrics-server's --metric-resolution.
	MetricResolution time.Duration
	// ScaleUp and ScaleDown are the HPA's behavior rules.
	ScaleUp   ScalingRules
	ScaleDown ScalingRules
	// MinReplicas and MaxReplicas of the HPA.
	MinReplicas, MaxReplicas int32
}

// ScalingRules is the part of an HPA scaling rule the budgets need.
type ScalingRules struct {
	Window time.Duration
	// Policies: the largest change allowed per period.
	Policies []Policy
}

// Policy is one HPA scaling policy.
type Policy struct {
	Percent bool
	Value   int32
	Period  time.Duration
}

// MetricsBudget bounds how long until the HPA first shows real metrics for
// new pods: metrics-server needs two scrapes for a CPU rate, the HPA one sync.
func (p Periods) MetricsBudget() time.Duration {
	return 3*p.MetricResolution + 2*p.HPASync + ScheduleSlack
}

// ScaleUpDecisionBudget bounds the time from load start to the HPA raising
// its desired replicas: fresh usage must reach metrics-server (two
// resolutions), the HPA must sync, and the up-window must pass.
func (p Periods) ScaleUpDecisionBudget() time.Duration {
	return 2*p.MetricResolution + 2*p.HPASync + p.ScaleUp.Window + ScheduleSlack
}

// ScaleUpServingBudget adds the new pods' start to the decision budget.
func (p Periods) ScaleUpServingBudget() time.Duration {
	return p.ScaleUpDecisionBudget() + PodStartup
}

// ScaleDownBudget bounds the time from load end until the HPA is back at
// MinReplicas from peak replicas: usage must age out of metrics-server, the
// down-window must pass, then the policies remove pods period by period,
// and one more sync shows it: the controller writes status.currentReplicas
// from the scale as it was when the sync began, so a scale-down appears
// there one sync after it was made. The kubelet's own stats lag comes
// first. (Measured 2026-11-28: 66-96 s back at the minimum on the kind
// cluster, 101-113 s once on the existing-cluster run, against the 100 s
// this budget had without those two terms.)
func (p Periods) ScaleDownBudget(peak int32) time.Duration {
	steps := p.ScaleDown.stepsToReach(peak, p.MinReplicas)
	var stepPeriod time.Duration
	for _, pol := range p.ScaleDown.Policies {
		stepPeriod = max(stepPeriod, pol.Period)
	}
	if stepPeriod == 0 {
		stepPeriod = p.HPASync
	}
	return KubeletStatsLag + 2*p.MetricResolution + 3*p.HPASync + p.ScaleDown.Window +
		time.Duration(steps)*max(stepPeriod, p.HPASync) + ScheduleSlack
}

// stepsToReach counts the policy periods needed to go from `from` down to
// `to`, taking the most permissive policy each period (the HPA default
// selectPolicy Max).
func (r ScalingRules) stepsToReach(from, to int32) int {
	if from <= to {
		return 0
	}
	steps := 0
	for cur := from; cur > to && steps < 100; steps++ {
		var best int32
		for _, pol := range r.Policies {
			change := pol.Value
			if pol.Percent {
				change = int32(math.Ceil(float64(cur) * float64(pol.Value) / 100))
			}
			best = max(best, change)
		}
		if best <= 0 {
			return 100
		}
		cur -= best
	}
	return steps
}

// DiscoverPeriodsInput names what DiscoverPeriods reads.
type DiscoverPeriodsInput struct {
	Client    kubernetes.Interface
	Namespace string
	HPAName   string
	// MetricsServer is the Service behind the metrics API (see
	// WaitForMetricsAPI); its Deployment has the same name, as
	// metrics-server's manifests make it. Default kube-system/metrics-server.
	MetricsServer types.NamespacedName
}

// DiscoverPeriods reads the periods from the running cluster: the
// controller-manager's and metrics-server's flags and the HPA object.
func DiscoverPeriods(ctx context.Context, in DiscoverPeriodsInput) (Periods, error) {
	p := Periods{HPASync: defaultHPASyncPeriod, MetricResolution: defaultMetricResolution}
	// A managed or locked-down cluster hides its control plane (no pod,
	// or Forbidden): the defaults stand, as for a missing metrics-server
	// Deployment below.
	pods, err := in.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "component=kube-controller-manager"})
	if apierrors.IsForbidden(err) {
		pods, err = &corev1.PodList{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("failed to list kube-controller-manager pods: %w", err)
	}
	if len(pods.Items) > 0 {
		if v, ok := flagValue(pods.Items[0].Spec.Containers, "horizontal-pod-autoscaler-sync-period"); ok {
			if p.HPASync, err = time.ParseDuration(v); err != nil {
				return p, fmt.Errorf("failed to parse controller-manager HPA sync period %q: %w", v, err)
			}
		}
	}
	msName := in.MetricsServer
	if msName.Name == "" {
		msName = types.NamespacedName{Namespace: "kube-system", Name: "metrics-server"}
	}
	// A metrics API served by something else (another name, a managed
	// add-on) keeps metrics-server's default resolution, the longest usual
	// one: budgets derived from it are generous, never short.
	ms, err := in.Client.AppsV1().Deployments(msName.Namespace).Get(ctx, msName.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
	case err != nil:
		return p, fmt.Errorf("failed to get metrics-server Deployment %s: %w", msName, err)
	}
	if v, ok := flagValue(ms.Spec.Template.Spec.Containers, "metric-resolution"); err == nil && ok {
		if p.MetricResolution, err = time.ParseDuration(v); err != nil {
			return p, fmt.Errorf("failed to parse metrics-server resolution %q: %w", v, err)
		}
	}
	hpa, err := in.Client.AutoscalingV2().HorizontalPodAutoscalers(in.Namespace).Get(ctx, in.HPAName, metav1.GetOptions{})
	if err != nil {
		return p, fmt.Errorf("failed to get HPA %s/%s: %w", in.Namespace, in.HPAName, err)
	}
	p.MinReplicas, p.MaxReplicas = 1, hpa.Spec.MaxReplicas
	if hpa.Spec.MinReplicas != nil {
		p.MinReplicas = *hpa.Spec.MinReplicas
	}
	// Defaults from the HPA API when behavior is not set.
	p.ScaleUp = ScalingRules{Policies: []Policy{{Percent: true, Value: 100, Period: 15 * time.Second}, {Value: 4, Period: 15 * time.Second}}}
	p.ScaleDown = ScalingRules{Window: 300 * time.Second, Policies: []Policy{{Percent: true, Value: 100, Period: 15 * time.Second}}}
	if b := hpa.Spec.Behavior; b != nil {
		if b.ScaleUp != nil {
			p.ScaleUp = rulesFrom(b.ScaleUp, p.ScaleUp)
		}
		if b.ScaleDown != nil {
			p.ScaleDown = rulesFrom(b.ScaleDown, p.ScaleDown)
		}
	}
	return p, nil
}

func rulesFrom(r *autoscalingv2.HPAScalingRules, def ScalingRules) ScalingRules {
	out := def
	if r.StabilizationWindowSeconds != nil {
		out.Window = time.Duration(*r.StabilizationWindowSeconds) * time.Second
	}
	if len(r.Policies) > 0 {
		out.Policies = nil
		for _, pol := range r.Policies {
			out.Policies = append(out.Policies, Policy{
				Percent: pol.Type == autoscalingv2.PercentScalingPolicy,
				Value:   pol.Value,
				Period:  time.Duration(pol.PeriodSeconds) * time.Second,
			})
		}
	}
	return out
}

// flagValue finds --name=value or --name value in the containers' command and args.
func flagValue(containers []corev1.Container, name string) (string, bool) {
	for _, c := range containers {
		argv := append(append([]string{}, c.Command...), c.Args...)
		for i, a := range argv {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v, true
			}
			if a == "--"+name && i+1 < len(argv) {
				return argv[i+1], true
			}
		}
	}
	return "", false
}
