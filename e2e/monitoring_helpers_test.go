package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/report"
)

// promClient reads the release's Prometheus through the API server's
// service proxy.
func promClient() *framework.PrometheusClient {
	return &framework.PrometheusClient{BaseURL: env.proxy.ServiceURL(env.cfg.Namespace, "prometheus", 9090), HTTP: env.proxy.Client()}
}

// monitoring returns the release's Prometheus and its scrape interval, or
// nil when the release runs none (monitoring.enabled=false through
// E2E_VALUES): the load levels then have no second source, and the
// Monitoring area fails on its own.
func monitoring(ctx context.Context) (*framework.PrometheusClient, time.Duration) {
	prom := promClient()
	targets, err := prom.Targets(ctx)
	if err != nil {
		GinkgoWriter.Printf("no Prometheus to read the load level from: %v\n", err)
		return nil, 0
	}
	for _, t := range targets {
		if d, err := time.ParseDuration(t.ScrapeInterval); err == nil && t.ScrapePool == "flts-hpa" {
			return prom, d
		}
	}
	GinkgoWriter.Println("Prometheus scrapes no HPA exporter: no second source for the load level")
	return nil, 0
}

// promFigures reads a load level from Prometheus after the fact: the
// requests the pods counted between the start and the end of the load,
// the server-side p95 over the same span, the HPA's replicas, and the
// at-max alert's states watched by atMax (stopped here, once the alert
// has resolved or could not have in its budget). Failures to read are
// kept in Err, so the report is still written.
func promFigures(ctx context.Context, prom *framework.PrometheusClient, interval time.Duration, start, end time.Time, atMax *framework.AlertWatcher) *report.PromFigures {
	GinkgoHelper()
	f := &report.PromFigures{}
	var errs []error
	// A firing alert resolves one scrape of the exporter and one rule
	// evaluation (both every interval) after the HPA's status drops.
	if !report.Span(atMax.Transitions()).Firing.IsZero() {
		budget := 3*interval + Poll
		g := NewGomega(func(message string, _ ...int) { errs = append(errs, errors.New(message)) })
		g.Eventually(func() time.Time {
			return report.Span(atMax.Transitions()).Resolved
		}).WithContext(ctx).WithTimeout(budget).WithPolling(Poll).Should(Not(BeZero()),
			"FltsInferenceAtMaxReplicas still active %s after the scale-down", budget)
	}
	f.AtMaxAlert = atMax.Stop()
	// A failed poll is logged, not counted against the figures: the
	// spec asserts the states it needs, whatever hid them.
	if n, err := atMax.Failed(); n > 0 {
		GinkgoWriter.Printf("%d polls of the alerts failed, the first: %v\n", n, err)
	}
	settled := time.Now()

	// Each pod's counter just before the load and one scrape after it: a
	// pod added by the HPA starts from nothing.
	const perPod = `sum by (pod) (flts_inference_requests_total{job="flts-inference", path="/predict"})`
	before, err := prom.QueryAt(ctx, perPod, start)
	errs = append(errs, err)
	after, err := prom.QueryAt(ctx, perPod, end.Add(interval+2*time.Second))
	errs = append(errs, err)
	counted := map[string]float64{}
	for _, s := range before {
		counted[s.Metric["pod"]] = s.Value
	}
	for _, s := range after {
		f.Requests += s.Value - counted[s.Metric["pod"]]
	}
	window := fmt.Sprintf("%ds", int((end.Sub(start) + interval).Seconds()))
	p95, err := prom.QueryAt(ctx, `histogram_quantile(0.95, sum by (le) (increase(flts_inference_request_duration_seconds_bucket{job="flts-inference", path="/predict"}[`+window+`])))`, end.Add(interval))
	errs = append(errs, err)
	switch {
	case err != nil:
	case len(p95) != 1 || math.IsNaN(p95[0].Value) || math.IsInf(p95[0].Value, 0):
		errs = append(errs, fmt.Errorf("p95 of /predict: %d results %v, want one finite value", len(p95), p95))
	default:
		f.P95 = time.Duration(p95[0].Value * float64(time.Second))
	}
	replicas, err := prom.QueryRange(ctx, `max(kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="inference"})`, start, settled, interval)
	errs = append(errs, err)
	for _, s := range replicas {
		for _, p := range s.Points {
			f.Replicas = append(f.Replicas, report.Sample{T: p.T, Value: p.V})
			// The sampler's peak ends with the load: so does this one.
			if !p.T.After(end) {
				f.PeakReplicas = max(f.PeakReplicas, int(p.V))
			}
		}
	}
	// rate needs two scrapes in its window; four ride out a missed one.
	rps, err := prom.QueryRange(ctx, fmt.Sprintf(`sum(rate(flts_inference_requests_total{job="flts-inference", path="/predict"}[%ds]))`, int(4*interval.Seconds())), start, end.Add(interval), interval)
	errs = append(errs, err)
	for _, s := range rps {
		for _, p := range s.Points {
			f.RPS = append(f.RPS, report.Sample{T: p.T, Value: p.V})
		}
	}
	if err := errors.Join(errs...); err != nil {
		f.Err = err.Error()
	}
	GinkgoWriter.Printf("Prometheus: requests=%.0f p95=%s peak replicas=%d at-max alert=%+v err=%q\n", f.Requests, f.P95, f.PeakReplicas, f.AtMaxAlert, f.Err)
	return f
}

// sendPredictions sends n predictions from outside the cluster, each
// answered 200, and returns how many each pod served (X-Served-By).
func sendPredictions(ctx context.Context, n int) map[string]float64 {
	GinkgoHelper()
	served := map[string]float64{}
	for range n {
		_, resp, err := env.inference.Predict(ctx, 1)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Status).To(Equal(200), "body: %s", resp.Body)
		served[resp.ServedBy]++
	}
	return served
}
