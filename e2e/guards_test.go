package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Suite-wide guard, asserted after every spec of every area: no container
// of the release has restarted and none was OOMKilled. A crash-looping
// tracking server or an inference pod killed for memory under load would
// otherwise hide behind retries and a green area.
var _ = AfterEach(func(ctx SpecContext) {
	if env == nil || !env.setUp {
		return
	}
	pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	for _, pod := range pods.Items {
		statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			Expect(cs.RestartCount).To(BeZero(), "container %s of pod %s restarted (last state %+v)", cs.Name, pod.Name, cs.LastTerminationState)
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil {
					Expect(t.Reason).NotTo(Equal("OOMKilled"), "container %s of pod %s was OOMKilled", cs.Name, pod.Name)
				}
			}
		}
	}
}, NodeTimeout(RequestTimeout))
