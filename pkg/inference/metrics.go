package inference

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are the upper bounds (seconds) of the request latency
// histogram: 0.1 ms to 10 s, as a cached prediction answers in well under
// a millisecond and a queued one near the request timeout. The e2e report
// reads them to bound what a quantile estimated from them can be.
func LatencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// metrics are the server's Prometheus series, on a registry of their own so
// that several servers (tests, the local run) never collide.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	modelInfo *prometheus.GaugeVec
	swaps     prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flts_inference_requests_total", Help: "HTTP requests by path and status code.",
		}, []string{"path", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flts_inference_request_duration_seconds",
			Help:    "Latency of HTTP requests by path.",
			Buckets: LatencyBuckets(),
		}, []string{"path"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flts_inference_model_info", Help: "1 for the model being served.",
		}, []string{"run_id", "model_type"}),
		swaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flts_inference_model_swaps_total", Help: "Models loaded since start.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.modelInfo, m.swaps,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flts_inference_queue_depth", Help: "Requests waiting for an in-flight slot.",
		}, func() float64 { return float64(s.limiter.QueueLength()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flts_inference_in_flight", Help: "Predictions running.",
		}, func() float64 { return float64(s.limiter.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flts_inference_ready", Help: "1 when a model is loaded and the server accepts work.",
		}, func() float64 {
			if s.isReady() {
				return 1
			}
			return 0
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *metrics) setModel(runID, modelType string) {
	m.modelInfo.Reset()
	m.modelInfo.WithLabelValues(runID, modelType).Set(1)
	m.swaps.Inc()
}

func (m *metrics) observe(path string, code int, seconds float64) {
	m.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(path).Observe(seconds)
}
