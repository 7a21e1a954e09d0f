package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/e2e/framework"
)

// trafficRequests is enough that a fair split falls under 25 % per pod
// with negligible probability (binomial, p=0.5: below 1e-12).
const trafficRequests = 200

var _ = Describe("Traffic: the native Service spreads requests over both replicas", Label("Traffic"), func() {
	It("serves each of the two pods at least a quarter of the requests", func(ctx SpecContext) {
		periods := discoverPeriods(ctx)
		By("waiting for the HPA minimum of two replicas")
		Expect(periods.MinReplicas).To(BeEquivalentTo(2), "the area checks a split over two pods")
		pods := waitForMinimumReplicas(ctx, periods)

		By("sending requests from outside the cluster (NodePort 30080 on kind), one connection each")
		served := map[string]int{}
		for range trafficRequests {
			_, resp, err := env.inference.Predict(ctx, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Status).To(Equal(200), "body: %s", resp.Body)
			served[resp.ServedBy]++
		}
		GinkgoWriter.Printf("requests per pod: %v\n", served)
		AddReportEntry("requests per pod", served)
		Expect(served).To(HaveLen(2), "responses must come from both pods")
		for pod, n := range served {
			Expect(pods).To(HaveKey(pod), "X-Served-By %q is not a ready inference pod", pod)
			Expect(n).To(BeNumerically(">=", trafficRequests/4), "pod %s served %d of %d", pod, n, trafficRequests)
		}
	})
})

// waitForMinimumReplicas waits until the inference Deployment runs exactly
// the HPA's minimum of pods, all Ready (an area before may have left the
// scale-up's pods), and returns their names.
func waitForMinimumReplicas(ctx SpecContext, periods framework.Periods) map[string]bool {
	GinkgoHelper()
	var pods map[string]bool
	Eventually(func(g Gomega) {
		list, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
		g.Expect(err).NotTo(HaveOccurred())
		pods = map[string]bool{}
		for i := range list.Items {
			if framework.PodReady(&list.Items[i]) {
				pods[list.Items[i].Name] = true
			}
		}
		g.Expect(list.Items).To(HaveLen(int(periods.MinReplicas)))
		g.Expect(pods).To(HaveLen(int(periods.MinReplicas)))
	}).WithContext(ctx).WithTimeout(periods.ScaleDownBudget(periods.MaxReplicas)).WithPolling(Poll).Should(Succeed())
	return pods
}
