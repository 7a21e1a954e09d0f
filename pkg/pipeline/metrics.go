package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
)

// DeadLetterCounter is the part of events.Bus the metrics read.
type DeadLetterCounter interface {
	DeadLetterCounts(ctx context.Context) (map[string]int, error)
}

// Metrics are the pipeline's Prometheus series, served by eval. The state
// (data version, promotion, candidates' scores, dead letters) is read from
// the object store and the broker at scrape time, not counted in memory:
// it survives a restart of eval and is the same whichever pod is asked.
// Only the event counters are the process's own.
type Metrics struct {
	Registry *prometheus.Registry

	trainings  *prometheus.CounterVec
	promotions *prometheus.CounterVec
}

// NewMetrics registers the pipeline's series; a scrape reads store and
// bus for at most timeout.
func NewMetrics(store objstore.Reader, bus DeadLetterCounter, timeout time.Duration, log *slog.Logger) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		trainings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flts_eval_training_events_total",
			Help: "model-training events eval received, by model type and status (a redelivery counts again).",
		}, []string{"model_type", "status"}),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flts_eval_promotions_total", Help: "Promotions this eval process wrote, by model type.",
		}, []string{"model_type"}),
	}
	// Every series from 0: a counter first seen at 1 has no increase, and a
	// dashboard's increase() would miss the first promotion of a process.
	for _, t := range model.Types {
		m.promotions.WithLabelValues(t)
		for _, status := range []string{events.StatusSuccess, events.StatusFailed} {
			m.trainings.WithLabelValues(t, status)
		}
	}
	m.Registry.MustRegister(m.trainings, m.promotions,
		&stateCollector{store: store, bus: bus, timeout: timeout, log: log})
	return m
}

// ObserveTraining counts a model-training event.
func (m *Metrics) ObserveTraining(ev events.Event) {
	m.trainings.WithLabelValues(ev.ModelType, ev.Status).Inc()
}

// ObservePromotion counts a promotion written.
func (m *Metrics) ObservePromotion(p Promotion) {
	m.promotions.WithLabelValues(p.ModelType).Inc()
}

var (
	descDataVersion = prometheus.NewDesc("flts_pipeline_data_version_info",
		"1 for the newest processed data version (latest.json).", []string{"config_hash"}, nil)
	descDataProcessed = prometheus.NewDesc("flts_pipeline_data_version_processed_timestamp_seconds",
		"When the newest data version was processed.", nil, nil)
	descPromotion = prometheus.NewDesc("flts_pipeline_promotion_info",
		"1 for the promoted model (current.json) and the data version it was trained on.", []string{"config_hash", "run_id", "model_type"}, nil)
	descPromotedAt = prometheus.NewDesc("flts_pipeline_promotion_timestamp_seconds",
		"When the promoted model was promoted.", nil, nil)
	descPromotionScore = prometheus.NewDesc("flts_pipeline_promotion_score",
		"Score of the promoted model and of its naive baseline (lower is better).", []string{"kind"}, nil)
	descCandidateScore = prometheus.NewDesc("flts_pipeline_candidate_score",
		"Score of each model trained on the promoted data version, the winner included (lower is better).", []string{"model_type", "run_id"}, nil)
	descDeadLetters = prometheus.NewDesc("flts_pipeline_dead_letters",
		"Dead letters waiting in each topic's DLQ.", []string{"topic"}, nil)
	descReadOK = prometheus.NewDesc("flts_pipeline_state_read_success",
		"1 if the last scrape read the source, 0 if it failed (its series are then missing).", []string{"source"}, nil)
)

// stateCollector reads the pipeline's state at scrape time.
type stateCollector struct {
	store   objstore.Reader
	bus     DeadLetterCounter
	timeout time.Duration
	log     *slog.Logger
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDataVersion, descDataProcessed, descPromotion, descPromotedAt,
		descPromotionScore, descCandidateScore, descDeadLetters, descReadOK} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	success := func(source string, err error) {
		if err != nil {
			c.log.Warn("metrics: failed to read the pipeline's state", "source", source, "error", err)
			gauge(descReadOK, 0, source)
			return
		}
		gauge(descReadOK, 1, source)
	}

	// Before the first data version or promotion the series are absent,
	// which is no read failure.
	latest, err := ReadLatestData(ctx, c.store)
	if err == nil {
		gauge(descDataVersion, 1, latest.ConfigHash)
		gauge(descDataProcessed, unixSeconds(latest.ProcessedAt))
	}
	storeErr := ignoreNotFound(err)
	p, err := ReadPromotion(ctx, c.store)
	if err == nil {
		gauge(descPromotion, 1, p.ConfigHash, p.RunID, p.ModelType)
		gauge(descPromotedAt, unixSeconds(p.PromotedAt))
		gauge(descPromotionScore, p.Score, "model")
		gauge(descPromotionScore, p.BaselineScore, "baseline")
		for _, cand := range p.Candidates {
			gauge(descCandidateScore, cand.Score, cand.ModelType, cand.RunID)
		}
	}
	success("store", errors.Join(storeErr, ignoreNotFound(err)))

	counts, err := c.bus.DeadLetterCounts(ctx)
	for topic, n := range counts {
		gauge(descDeadLetters, float64(n), topic)
	}
	success("broker", err)
}

func ignoreNotFound(err error) error {
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	}
	return err
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
