package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
)

type dlqCounts struct {
	counts map[string]int
	err    error
}

func (d dlqCounts) DeadLetterCounts(context.Context) (map[string]int, error) { return d.counts, d.err }

func TestMetricsReadThePipelineStateAtScrapeTime(t *testing.T) {
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bus := &dlqCounts{counts: map[string]int{events.TopicTrainingData: 2, events.TopicModelTraining: 0}}
	m := NewMetrics(store, bus, time.Second, slog.New(slog.DiscardHandler))
	state := []string{"flts_pipeline_data_version_info", "flts_pipeline_promotion_info", "flts_pipeline_promotion_score",
		"flts_pipeline_candidate_score", "flts_pipeline_dead_letters", "flts_pipeline_state_read_success"}

	// Before any data: only the dead letters, and both sources read.
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP flts_pipeline_dead_letters Dead letters waiting in each topic's DLQ.
# TYPE flts_pipeline_dead_letters gauge
flts_pipeline_dead_letters{topic="model-training"} 0
flts_pipeline_dead_letters{topic="training-data"} 2
# HELP flts_pipeline_state_read_success 1 if the last scrape read the source, 0 if it failed (its series are then missing).
# TYPE flts_pipeline_state_read_success gauge
flts_pipeline_state_read_success{source="broker"} 1
flts_pipeline_state_read_success{source="store"} 1
`), state...); err != nil {
		t.Error(err)
	}

	// A newer data version than the promoted one: the alert's join
	// (data version unless promotion, on config_hash) has a result.
	putJSON(t, store, objstore.BucketProcessed, LatestDataKey, LatestData{ConfigHash: "v2", ProcessedAt: time.Unix(1700000100, 0)})
	putJSON(t, store, objstore.BucketModelPromotion, CurrentKey, Promotion{RunID: "r1", ModelType: "GRU", ConfigHash: "v1",
		Score: 0.5, BaselineScore: 0.9, PromotedAt: time.Unix(1700000000, 0),
		Candidates: []Candidate{{RunID: "r1", ModelType: "GRU", Score: 0.5}, {RunID: "r2", ModelType: "LSTM", Score: 0.75}}})
	bus.err = errors.New("broker down")
	bus.counts = nil
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP flts_pipeline_candidate_score Score of each model trained on the promoted data version, the winner included (lower is better).
# TYPE flts_pipeline_candidate_score gauge
flts_pipeline_candidate_score{model_type="GRU",run_id="r1"} 0.5
flts_pipeline_candidate_score{model_type="LSTM",run_id="r2"} 0.75
# HELP flts_pipeline_data_version_info 1 for the newest processed data version (latest.json).
# TYPE flts_pipeline_data_version_info gauge
flts_pipeline_data_version_info{config_hash="v2"} 1
# HELP flts_pipeline_promotion_info 1 for the promoted model (current.json) and the data version it was trained on.
# TYPE flts_pipeline_promotion_info gauge
flts_pipeline_promotion_info{config_hash="v1",model_type="GRU",run_id="r1"} 1
# HELP flts_pipeline_promotion_score Score of the promoted model and of its naive baseline (lower is better).
# TYPE flts_pipeline_promotion_score gauge
flts_pipeline_promotion_score{kind="baseline"} 0.9
flts_pipeline_promotion_score{kind="model"} 0.5
# HELP flts_pipeline_state_read_success 1 if the last scrape read the source, 0 if it failed (its series are then missing).
# TYPE flts_pipeline_state_read_success gauge
flts_pipeline_state_read_success{source="broker"} 0
flts_pipeline_state_read_success{source="store"} 1
`), state...); err != nil {
		t.Error(err)
	}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP flts_pipeline_data_version_processed_timestamp_seconds When the newest data version was processed.
# TYPE flts_pipeline_data_version_processed_timestamp_seconds gauge
flts_pipeline_data_version_processed_timestamp_seconds 1.7000001e+09
# HELP flts_pipeline_promotion_timestamp_seconds When the promoted model was promoted.
# TYPE flts_pipeline_promotion_timestamp_seconds gauge
flts_pipeline_promotion_timestamp_seconds 1.7e+09
`), "flts_pipeline_data_version_processed_timestamp_seconds", "flts_pipeline_promotion_timestamp_seconds"); err != nil {
		t.Error(err)
	}

	m.ObserveTraining(events.Event{ModelType: "GRU", Status: events.StatusSuccess})
	m.ObservePromotion(Promotion{ModelType: "GRU"})
	// Every series exists from 0 (an increase() over the first event sees
	// it), and counts what was observed.
	if n := testutil.CollectAndCount(m.Registry, "flts_eval_promotions_total", "flts_eval_training_events_total"); n != 3+3*2 {
		t.Errorf("%d counter series, want 9 (3 model types, and each with 2 statuses)", n)
	}
	for _, c := range []struct {
		got  float64
		want float64
	}{
		{testutil.ToFloat64(m.promotions.WithLabelValues("GRU")), 1},
		{testutil.ToFloat64(m.promotions.WithLabelValues("LSTM")), 0},
		{testutil.ToFloat64(m.trainings.WithLabelValues("GRU", events.StatusSuccess)), 1},
		{testutil.ToFloat64(m.trainings.WithLabelValues("GRU", events.StatusFailed)), 0},
	} {
		if c.got != c.want {
			t.Errorf("counter %v, want %v", c.got, c.want)
		}
	}
}

func TestMetricsReportAnUnreadableStore(t *testing.T) {
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not JSON: the read fails with something other than "not found".
	if err := store.Put(context.Background(), objstore.BucketProcessed, LatestDataKey, []byte("{"), "application/json"); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(store, dlqCounts{counts: map[string]int{}}, time.Second, slog.New(slog.DiscardHandler))
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP flts_pipeline_state_read_success 1 if the last scrape read the source, 0 if it failed (its series are then missing).
# TYPE flts_pipeline_state_read_success gauge
flts_pipeline_state_read_success{source="broker"} 1
flts_pipeline_state_read_success{source="store"} 0
`), "flts_pipeline_state_read_success", "flts_pipeline_data_version_info"); err != nil {
		t.Error(err)
	}
}

func putJSON(t *testing.T, s objstore.Store, bucket, key string, v any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), bucket, key, body, "application/json"); err != nil {
		t.Fatal(err)
	}
}
