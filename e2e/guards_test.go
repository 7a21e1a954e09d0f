package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/tools/dataload"
)

// Suite-wide guard, asserted after every spec of every area: no container
// of the release's long-running pods (its Deployments and StatefulSets) restarted
// or was OOMKilled since the set-up finished. A crash-looping tracking
// server or an inference pod killed for memory would otherwise hide behind
// retries and a green area. Job pods (preprocess may restart while its
// dependencies start, as the chart allows) and restarts during the set-up
// are not counted: the baseline is taken when BeforeSuite ends.
var _ = AfterEach(func(ctx SpecContext) {
	if env == nil || !env.setUp {
		return
	}
	// The window of events this spec answers for is fixed first: a check
	// below that fails must not hand this spec's events to the next one.
	since := env.eventsSince
	env.eventsSince = time.Now()

	counts, err := deploymentRestarts(ctx)
	Expect(err).NotTo(HaveOccurred())
	for id, c := range counts {
		Expect(c.restarts).To(BeNumerically("<=", env.restartBaseline[id]), "container %s restarted since the set-up (last state %+v)", id, c.last)
		Expect(c.oomKilled).To(BeFalse(), "container %s was OOMKilled", id)
	}

	// Warning events since the previous check (each is reported once, by
	// the spec during which it happened).
	warnings, err := warningEvents(ctx, since)
	Expect(err).NotTo(HaveOccurred())
	var unexpected []string
	for _, e := range warnings {
		if !allowedWarning(e) {
			unexpected = append(unexpected, fmt.Sprintf("%s %s/%s: %s (x%d)", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message, max(e.Count, 1)))
		}
	}
	Expect(unexpected).To(BeEmpty(), "unexpected Warning events in the release's namespace")

	// The HPA can act and has the metrics to: a broken metrics pipeline
	// or a missing scale target shows here even when no load ran. Pods
	// that just started (the set-up's, a rolling restart's) have no
	// figures until metrics-server scrapes them, and ScalingActive is
	// false until then: the budget is the cluster's own metrics delay.
	periods := discoverPeriods(ctx)
	Eventually(func(g Gomega) {
		hpa, err := env.clientset.AutoscalingV2().HorizontalPodAutoscalers(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		for _, want := range []autoscalingv2.HorizontalPodAutoscalerConditionType{autoscalingv2.AbleToScale, autoscalingv2.ScalingActive} {
			i := slices.IndexFunc(hpa.Status.Conditions, func(c autoscalingv2.HorizontalPodAutoscalerCondition) bool { return c.Type == want })
			g.Expect(i).To(BeNumerically(">=", 0), "the HPA has no %s condition: %+v", want, hpa.Status.Conditions)
			c := hpa.Status.Conditions[i]
			g.Expect(c.Status).To(Equal(corev1.ConditionTrue), "HPA %s is %s: %s (%s)", want, c.Status, c.Reason, c.Message)
		}
	}).WithContext(ctx).WithTimeout(periods.MetricsBudget()).WithPolling(Poll).Should(Succeed())
}, NodeTimeout(GuardTimeout))

// allowedWarning tells the warnings that are the system working from
// defects:
//   - a failed readiness probe is readiness doing its job (a pod before its
//     model loads, a pod draining, a dependency restarting); "errored" is
//     the kubelet's word for a probe it could not run against a container
//     that is stopping;
//   - the HPA finding no metrics yet for pods that just started (its first
//     sync after a scale-up, an eviction or a restart comes before
//     metrics-server's first scrape of them). A metrics API that is down
//     says otherwise ("unable to fetch metrics"), and one that stays
//     without figures turns ScalingActive false, which the guard checks;
//   - a preprocessing Job's pod backing off: its OnFailure restarts are how
//     the chart waits for NATS and MinIO (the restart guard leaves Job
//     pods out for the same reason). A Job that never succeeds stalls the
//     pipeline, which the promotion waits catch.
//
// The event recorder folds more than 10 different messages of one reason
// and object in 10 minutes into one "(combined from similar events): "
// event that shows the latest message only: it may hide a defect of the
// same reason, so only the HPA's no-metrics reasons are allowed combined
// (their hidden siblings, "unable to fetch metrics", would also turn
// ScalingActive false, which the guard checks).
// Everything else (BackOff of a long-running pod, failed liveness probes,
// FailedScheduling, FailedMount, image errors, other HPA errors) is a
// defect.
func allowedWarning(e corev1.Event) bool {
	msg, combined := strings.CutPrefix(e.Message, combinedEventsPrefix)
	switch {
	case e.Reason == "Unhealthy" && !combined && (strings.HasPrefix(msg, "Readiness probe failed") || strings.HasPrefix(msg, "Readiness probe errored")):
		return true
	case (e.Reason == "FailedGetResourceMetric" || e.Reason == "FailedComputeMetricsReplicas") &&
		(strings.Contains(msg, "did not receive metrics for targeted pods") || strings.Contains(msg, "no metrics returned from resource metrics API")):
		return true
	case e.Reason == "BackOff" && !combined && strings.HasPrefix(msg, "Back-off restarting failed container") &&
		e.InvolvedObject.Kind == "Pod" && strings.HasPrefix(e.InvolvedObject.Name, dataload.PreprocessJob+"-"):
		return true
	}
	return false
}

// combinedEventsPrefix is what client-go's event aggregator puts before
// the latest message when it merges similar events.
const combinedEventsPrefix = "(combined from similar events): "

// warningEvents lists the namespace's Warning events last seen after t.
func warningEvents(ctx context.Context, t time.Time) ([]corev1.Event, error) {
	events, err := env.clientset.CoreV1().Events(env.cfg.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		return nil, err
	}
	var out []corev1.Event
	for _, e := range events.Items {
		if lastSeen(e).After(t) {
			out = append(out, e)
		}
	}
	return out, nil
}

// lastSeen is when an event last happened, from whichever of the legacy
// and the events.k8s.io fields its reporter filled. The legacy timestamps
// have second precision: an event in the second a check ran may be
// reported by two specs, never by none.
func lastSeen(e corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	return t.Add(time.Second)
}

// containerRestarts is what the guard reads of one container.
type containerRestarts struct {
	restarts  int32
	oomKilled bool
	last      corev1.ContainerState
}

// deploymentRestarts returns, by "pod/container" (pod UID included, so a
// replaced pod is a new entry), the restart state of every container of the
// release's Deployment and StatefulSet pods.
func deploymentRestarts(ctx context.Context) (map[string]containerRestarts, error) {
	pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]containerRestarts{}
	for _, pod := range pods.Items {
		if !longRunning(&pod) {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			oom := false
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				oom = oom || (t != nil && t.Reason == "OOMKilled")
			}
			out[pod.Name+"/"+cs.Name+"@"+string(pod.UID)] = containerRestarts{restarts: cs.RestartCount, oomKilled: oom, last: cs.LastTerminationState}
		}
	}
	return out, nil
}

// longRunning: a pod of a Deployment (through its ReplicaSet) or of a
// StatefulSet (the stores), not of a Job.
func longRunning(pod *corev1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Kind == "ReplicaSet" || o.Kind == "StatefulSet" {
			return true
		}
	}
	return false
}
