package e2e

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flts/flts-e2e/e2e/framework"
)

var _ = Describe("Replicas: two inference replicas behind a native Service", Label("Replicas"), func() {
	It("runs two ready inference replicas", func(ctx SpecContext) {
		periods := discoverPeriods(ctx)
		// An earlier area may have left the HPA above its minimum; it must
		// come back to exactly two by itself.
		Eventually(func(g Gomega) {
			d, err := env.clientset.AppsV1().Deployments(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(2), "ready inference replicas")
			g.Expect(d.Status.Replicas).To(BeEquivalentTo(2), "inference replicas")
		}).WithContext(ctx).WithTimeout(periods.ScaleDownBudget(periods.MaxReplicas)).WithPolling(Poll).Should(Succeed())
	})

	It("has no HAProxy load balancer left", func(ctx SpecContext) {
		ns := env.cfg.Namespace
		deps, err := env.clientset.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		svcs, err := env.clientset.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		cms, err := env.clientset.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, d := range deps.Items {
			names = append(names, "deployment/"+d.Name)
			for _, c := range d.Spec.Template.Spec.Containers {
				names = append(names, "image/"+c.Image)
			}
		}
		for _, s := range svcs.Items {
			names = append(names, "service/"+s.Name)
		}
		for _, c := range cms.Items {
			names = append(names, "configmap/"+c.Name)
		}
		Expect(names).To(ContainElement("deployment/inference"), "the listing must see the release")
		for _, n := range names {
			Expect(strings.ToLower(n)).NotTo(Or(ContainSubstring("inference-lb"), ContainSubstring("haproxy")), n)
		}
	})

	It("routes Service port 8000 to targetPort 8000 on a NodePort (30080 on kind) without session affinity", func(ctx SpecContext) {
		svc, err := env.clientset.CoreV1().Services(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
		Expect(svc.Spec.SessionAffinity).To(Equal(corev1.ServiceAffinityNone))
		var found bool
		for _, p := range svc.Spec.Ports {
			if p.Port == 8000 {
				found = true
				Expect(p.TargetPort).To(Or(Equal(intstr.FromInt32(8000)), Equal(intstr.FromString("http"))))
				if env.cfg.NodePort != 0 {
					Expect(p.NodePort).To(BeEquivalentTo(env.cfg.NodePort))
				} else {
					Expect(p.NodePort).NotTo(BeZero(), "no NodePort allocated")
				}
			}
		}
		Expect(found).To(BeTrue(), "Service inference has no port 8000: %+v", svc.Spec.Ports)
		// A named targetPort must resolve to 8000 in the pods.
		eps, err := env.clientset.CoreV1().Endpoints(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		var ports []int32
		for _, s := range eps.Subsets {
			for _, p := range s.Ports {
				ports = append(ports, p.Port)
			}
		}
		Expect(ports).To(ContainElement(BeEquivalentTo(8000)), "endpoint ports")
	})

	It("answers from outside the cluster (NodePort 30080 from the host on kind)", func(ctx SpecContext) {
		h, resp, err := env.inference.Health(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Status).To(Equal(200))
		Expect(h.Status).To(Equal("ok"))
		Expect(h.Service).To(Equal("inference-api"))
		Expect(resp.ServedBy).To(HavePrefix("inference-"), "X-Served-By names the pod")
	})
})

// discoverPeriods reads the cluster's HPA-related periods for budgets.
func discoverPeriods(ctx SpecContext) framework.Periods {
	GinkgoHelper()
	p, err := framework.DiscoverPeriods(ctx, framework.DiscoverPeriodsInput{
		Client: env.clientset, Namespace: env.cfg.Namespace, HPAName: "inference", MetricsServer: env.metricsServer,
	})
	Expect(err).NotTo(HaveOccurred())
	return p
}
