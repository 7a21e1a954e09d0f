package pipeline

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
	trackingserver "github.com/flts/flts-e2e/pkg/tracking/server"
)

// TestEventDrivenFlow runs the stages as the cluster does: real tracking
// server (HTTP), embedded NATS, trainers and eval as bus consumers.
func TestEventDrivenFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t)
	ts := trackingserver.New(e.store)
	if err := ts.Init(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	url, stop, err := events.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	bus, err := events.Connect(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	if err := bus.EnsureTopics(ctx, events.AllTopics...); err != nil {
		t.Fatal(err)
	}
	deps := Deps{Store: e.store, Events: bus, Tracker: tracking.NewClient(srv.URL, srv.Client())}

	metrics := map[string]score.Metrics{
		model.TypeGRU:     {RMSE: 0.05, MAE: 0.04, MSE: 0.003}, // lowest score
		model.TypeLSTM:    {RMSE: 0.06, MAE: 0.05, MSE: 0.004},
		model.TypeProphet: {RMSE: 0.07, MAE: 0.05, MSE: 0.005},
	}
	var mu sync.Mutex
	calls := 0
	inner := fakeTrain(metrics, &calls)
	trainer := func(ctx context.Context, mt string, d *preprocess.Processed, p map[string]string, progress func(string, ...any)) (TrainOutput, error) {
		mu.Lock() // the three consumers train concurrently
		defer mu.Unlock()
		return inner(ctx, mt, d, p, progress)
	}
	var evaluations atomic.Int64
	for _, mt := range model.Types {
		cfg := TrainConfig{ModelType: mt, Train: trainer}
		sub, err := bus.Start(ctx, events.TopicTrainingData, "train-"+mt, func(ctx context.Context, ev events.Event) error {
			_, err := Train(ctx, deps, cfg, ev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
	}
	ev := &Evaluator{Deps: deps}
	evalSub, err := bus.Start(ctx, events.TopicModelTraining, "eval", func(ctx context.Context, e events.Event) error {
		_, err := ev.Evaluate(ctx, e)
		evaluations.Add(1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer evalSub.Stop()
	selected := make(chan events.Event, 4)
	selSub, err := bus.Start(ctx, events.TopicModelSelected, "", func(_ context.Context, e events.Event) error {
		selected <- e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer selSub.Stop()

	if _, err := Preprocess(ctx, deps, smallData); err != nil {
		t.Fatal(err)
	}
	var sel events.Event
	select {
	case sel = <-selected:
	case <-ctx.Done():
		t.Fatal("no model-selected event")
	}
	// The run is tagged promoted after model-selected goes out (the tag
	// marks a finished promotion): wait until that evaluation returned.
	waitEvaluations(ctx, t, &evaluations, len(model.Types))
	cur, err := ReadPromotion(ctx, e.store)
	if err != nil || sel.RunID != cur.RunID || cur.ModelType != model.TypeGRU || sel.ModelType != model.TypeGRU {
		t.Fatalf("promotion %+v, event %+v, err %v", cur, sel, err)
	}
	run, err := deps.Tracker.(*tracking.Client).GetRun(ctx, cur.RunID)
	if err != nil || run.Tag(TagPromoted) != "true" || run.Info.Status != tracking.StatusFinished {
		t.Fatalf("winner run %+v: %v", run.Info, err)
	}
	if _, err := e.store.Get(ctx, cur.Artifact.Bucket, cur.Artifact.Key); err != nil {
		t.Fatalf("artifact: %v", err)
	}
	// Replaying the data announcement re-announces the runs but promotes nothing new.
	if _, err := Preprocess(ctx, deps, smallData); err != nil {
		t.Fatal(err)
	}
	waitEvaluations(ctx, t, &evaluations, 2*len(model.Types))
	mu.Lock()
	if calls != len(model.Types) {
		t.Errorf("trainer ran %d times, want %d (replays must not retrain)", calls, len(model.Types))
	}
	mu.Unlock()
	if hist, _ := e.store.List(ctx, objstore.BucketModelPromotion, HistoryPrefix); len(hist) != 1 {
		t.Fatalf("%d promotion records after the replay, want 1", len(hist))
	}
	select {
	case extra := <-selected:
		t.Fatalf("replay promoted again: %+v", extra)
	default:
	}
}

// waitEvaluations waits until eval's handler has returned n times.
func waitEvaluations(ctx context.Context, t *testing.T, evaluations *atomic.Int64, n int) {
	t.Helper()
	for evaluations.Load() < int64(n) {
		select {
		case <-ctx.Done():
			t.Fatalf("%d evaluations, want %d", evaluations.Load(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
