package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/e2e/framework"
)

// monitoringRequests are sent by the suite itself and must show up in
// Prometheus, counted per pod.
const monitoringRequests = 40

// chartAlerts are the alerts the chart's rules define (values-e2e.yaml has
// autoscaling on, so the at-max rule is rendered).
var chartAlerts = []string{"FltsInferenceAtMaxReplicas", "FltsInference5xxRatio", "FltsInference429Ratio",
	"FltsInferenceLatencyP95", "FltsInferenceModelVersionsDiffer"}

var _ = Describe("Monitoring: Prometheus scrapes the inference pods and loads the alert rules", Label("Monitoring"), func() {
	var prom *framework.PrometheusClient
	BeforeEach(func() {
		prom = &framework.PrometheusClient{BaseURL: env.proxy.ServiceURL(env.cfg.Namespace, "prometheus", 9090), HTTP: env.proxy.Client()}
	})

	It("scrapes every Ready inference pod and counts the requests each one served", func(ctx SpecContext) {
		periods := discoverPeriods(ctx)
		By("waiting for the HPA minimum, so no pod that serves the requests is removed before its scrape")
		waitForMinimumReplicas(ctx, periods)

		By("finding every Ready inference pod among Prometheus' healthy targets")
		var interval time.Duration
		Eventually(func(g Gomega) {
			list, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
			g.Expect(err).NotTo(HaveOccurred())
			targets, err := prom.Targets(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			up := map[string]bool{}
			for _, t := range targets {
				if t.ScrapePool != "flts-inference" {
					continue
				}
				g.Expect(t.Labels).To(HaveKey("pod"), "an inference target without its pod label")
				up[t.Labels["pod"]] = t.Health == "up"
				interval, err = time.ParseDuration(t.ScrapeInterval)
				g.Expect(err).NotTo(HaveOccurred())
			}
			for i := range list.Items {
				if p := &list.Items[i]; framework.PodReady(p) {
					g.Expect(up).To(HaveKeyWithValue(p.Name, true), "Ready pod %s is not a healthy target", p.Name)
				}
			}
		}).WithContext(ctx).WithTimeout(periods.MetricsBudget()).WithPolling(Poll).Should(Succeed())

		counted := func(g Gomega) map[string]float64 {
			samples, err := prom.Query(ctx, `sum by (pod) (flts_inference_requests_total{job="flts-inference", path="/predict"})`)
			g.Expect(err).NotTo(HaveOccurred())
			out := map[string]float64{}
			for _, s := range samples {
				out[s.Metric["pod"]] = s.Value
			}
			return out
		}
		before := counted(Default)
		By(fmt.Sprintf("sending %d predictions from outside the cluster", monitoringRequests))
		served := map[string]float64{}
		for range monitoringRequests {
			_, resp, err := env.inference.Predict(ctx, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Status).To(Equal(200), "body: %s", resp.Body)
			served[resp.ServedBy]++
		}
		// Two scrapes after the last request, plus the query's own lag.
		budget := 2*interval + 2*Poll
		By(fmt.Sprintf("waiting up to %s (two scrapes) for Prometheus to count them per pod: %v", budget, served))
		Eventually(func(g Gomega) {
			after := counted(g)
			for pod, n := range served {
				g.Expect(after[pod]-before[pod]).To(BeNumerically(">=", n), "pod %s served %v predictions; Prometheus counted %v more", pod, n, after[pod]-before[pod])
			}
		}).WithContext(ctx).WithTimeout(budget).WithPolling(Poll).Should(Succeed())
	})

	It("loads every alert rule of the chart, healthy", func(ctx SpecContext) {
		var loaded map[string]string
		Eventually(func(g Gomega) {
			groups, err := prom.RuleGroups(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			loaded = map[string]string{}
			for _, grp := range groups {
				for _, r := range grp.Rules {
					if r.Type == "alerting" {
						loaded[r.Name] = r.Health + " " + r.LastError
					}
				}
			}
			// "unknown" until the first evaluation, "err" for a broken rule.
			for _, name := range chartAlerts {
				g.Expect(loaded).To(HaveKeyWithValue(name, HavePrefix("ok ")), "rule %s", name)
			}
		}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	})
})
