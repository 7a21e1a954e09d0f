package e2e

import (
	"fmt"
	"math"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/report"
)

// monitoringRequests are sent by the suite itself and must show up in
// Prometheus, counted per pod.
const monitoringRequests = 40

// chartAlerts are the alerts the chart's rules define (values-e2e.yaml has
// autoscaling on, so the at-max rule is rendered).
var chartAlerts = []string{"FltsInferenceAtMaxReplicas", "FltsInferenceHPAUnableToScale", "FltsInference5xxRatio", "FltsInference429Ratio",
	"FltsInferenceLatencyP95", "FltsInferenceModelVersionsDiffer", "FltsPipelineNoPromotion", "FltsPipelineDeadLetters", "FltsMonitoringSourceDown"}

// scrapeJobs are the chart's scrape jobs besides the per-pod inference one.
var scrapeJobs = []string{"flts-pipeline", "flts-hpa", "prometheus"}

// seriesName finds the chart's own series in a PromQL expression.
var seriesName = regexp.MustCompile(`\b(flts|kube)_[a-z0-9_]+\b`)

// atMaxUsers is the load level that holds the HPA at its maximum.
const atMaxUsers = 800

var _ = Describe("Monitoring: Prometheus scrapes the inference pods, the pipeline and the HPA, alerts, and agrees with the load generator", Label("Monitoring"), func() {
	var prom *framework.PrometheusClient
	BeforeEach(func() {
		prom = promClient()
	})

	It("scrapes every Ready inference pod and counts the requests each one served", func(ctx SpecContext) {
		periods := discoverPeriods(ctx)
		By("waiting for the HPA minimum, so no pod that serves the requests is removed before its scrape")
		waitForMinimumReplicas(ctx, periods)

		By("finding every Ready inference pod among Prometheus' healthy targets, and every target of the other jobs healthy")
		var interval time.Duration
		Eventually(func(g Gomega) {
			list, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
			g.Expect(err).NotTo(HaveOccurred())
			targets, err := prom.Targets(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			up := map[string]bool{}
			pools := map[string][]string{}
			for _, t := range targets {
				pools[t.ScrapePool] = append(pools[t.ScrapePool], t.Health+" "+t.LastError)
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
			for _, job := range scrapeJobs {
				// Every target, not exactly one: a rollout may show two.
				g.Expect(pools[job]).To(SatisfyAll(Not(BeEmpty()), HaveEach(HavePrefix("up "))), "targets of job %s", job)
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
		served := sendPredictions(ctx, monitoringRequests)
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

	It("evaluates every query of the chart's Grafana dashboard to a result", func(ctx SpecContext) {
		cm, err := env.clientset.CoreV1().ConfigMaps(env.cfg.Namespace).Get(ctx, "flts-dashboard", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		queries, err := framework.DashboardQueries([]byte(cm.Data["flts-overview.json"]))
		Expect(err).NotTo(HaveOccurred())
		By(fmt.Sprintf("sending %d predictions, so the rate panels have traffic in their window", monitoringRequests))
		sendPredictions(ctx, monitoringRequests)
		// 5m: Grafana's $__rate_interval is at least four scrapes; a wider
		// window keeps a rate panel non-empty between the suite's bursts.
		By(fmt.Sprintf("evaluating the dashboard's %d queries until each has a finite result and every series it names exists", len(queries)))
		Eventually(func(g Gomega) {
			for _, q := range queries {
				samples, err := prom.Query(ctx, framework.ExpandGrafanaVariables(q.Expr, "5m"))
				g.Expect(err).NotTo(HaveOccurred(), "panel %q query %s", q.Panel, q.RefID)
				g.Expect(samples).To(ContainElement(HaveField("Value", Satisfy(func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }))),
					"panel %q query %s: %s has no finite result", q.Panel, q.RefID, q.Expr)
				// `or vector(0)` answers even for a misspelt series: each
				// series a query names must exist on its own (ALERTS is
				// empty while nothing is pending or firing).
				for _, name := range seriesName.FindAllString(q.Expr, -1) {
					n, err := prom.Query(ctx, "count("+name+")")
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(n).NotTo(BeEmpty(), "panel %q query %s names series %s, which Prometheus does not have", q.Panel, q.RefID, name)
				}
			}
		}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	})

	It(fmt.Sprintf("fires the at-max alert under %d users, resolves it after the scale-down, and agrees with the load generator", atMaxUsers), func(ctx SpecContext) {
		periods := discoverPeriods(ctx)
		run := observedLoad(ctx, periods, atMaxUsers)
		Expect(run.LoadErr).NotTo(HaveOccurred(), "the %d-user load", atMaxUsers)
		level := run.levelResult(periods)
		Expect(level.Prometheus).NotTo(BeNil(), "no Prometheus figures for the %d-user level", atMaxUsers)
		span := report.Span(level.Prometheus.AtMaxAlert)
		start := run.Result.Summary.Start
		AddReportEntry("FltsInferenceAtMaxReplicas", fmt.Sprintf("%s from the load's start (load ended +%s)",
			span.Since(start), run.Result.Summary.End.Sub(start).Round(time.Second)))
		Expect(level.MaxReplicas).To(Equal(int(periods.MaxReplicas)), "the %d-user level must hold the HPA at its maximum", atMaxUsers)
		Expect(span.Pending).NotTo(BeZero(), "the alert never went pending: %+v", level.Prometheus.AtMaxAlert)
		Expect(span.Firing).NotTo(BeZero(), "the alert never fired: %+v", level.Prometheus.AtMaxAlert)
		Expect(span.Resolved).To(BeTemporally(">", run.Result.Summary.End), "the alert must resolve after the load: %+v", level.Prometheus.AtMaxAlert)
		Expect(level.Disagreement()).To(BeEmpty(), "Prometheus against the load generator and the sampler")
		AddReportEntry("Prometheus vs load generator", fmt.Sprintf("requests %.0f vs %d, p95 %s (server) vs %s (client), peak replicas %d vs %d",
			level.Prometheus.Requests, level.Summary.Requests, level.Prometheus.P95, level.Summary.P95, level.Prometheus.PeakReplicas, level.MaxReplicas))
	})
})
