package e2e

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	counts, err := deploymentRestarts(ctx)
	Expect(err).NotTo(HaveOccurred())
	for id, c := range counts {
		Expect(c.restarts).To(BeNumerically("<=", env.restartBaseline[id]), "container %s restarted since the set-up (last state %+v)", id, c.last)
		Expect(c.oomKilled).To(BeFalse(), "container %s was OOMKilled", id)
	}
}, NodeTimeout(RequestTimeout))

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
