package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// storeDown fails the writes to one bucket while down is set, as a store
// that restarts does.
type storeDown struct {
	objstore.Store
	bucket string
	mu     sync.Mutex
	down   bool
}

func (s *storeDown) set(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *storeDown) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	s.mu.Lock()
	down := s.down && bucket == s.bucket
	s.mu.Unlock()
	if down {
		return errors.New("dial tcp minio:9000: connection refused")
	}
	return s.Store.Put(ctx, bucket, key, body, contentType)
}

func TestAnOutageDuringTrainingResumesTheRunInsteadOfFailingIt(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	store := &storeDown{Store: e.store, bucket: objstore.BucketMLflow, down: true}
	deps := e.deps
	deps.Store = store
	calls := 0
	cfg := TrainConfig{ModelType: model.TypeGRU, Train: fakeTrain(map[string]score.Metrics{model.TypeGRU: {RMSE: 0.1}}, &calls)}

	first, err := Train(ctx, deps, cfg, dataEv)
	if err == nil || errors.Is(err, ErrModelFailed) {
		t.Fatalf("a failed artifact upload: %v, want a transient error (the event is redelivered)", err)
	}
	if st := e.tracker.get(first.RunID).Info.Status; st != tracking.StatusRunning {
		t.Fatalf("run %s is %s after an outage, want RUNNING until the redelivery resumes it", first.RunID, st)
	}
	if evs := e.bus.on(events.TopicModelTraining); len(evs) != 0 {
		t.Fatalf("an outage announced %+v, want nothing", evs)
	}

	store.set(false)
	again, err := Train(ctx, deps, cfg, dataEv)
	if err != nil || !again.Resumed || again.RunID != first.RunID || calls != 2 {
		t.Fatalf("redelivery: %+v %v (trainings %d), want run %s resumed and trained", again, err, calls, first.RunID)
	}
	if st := e.tracker.get(first.RunID).Info.Status; st != tracking.StatusFinished || len(e.tracker.runs) != 1 {
		t.Fatalf("run %s is %s among %d runs, want one FINISHED run", first.RunID, st, len(e.tracker.runs))
	}
	if evs := e.bus.on(events.TopicModelTraining); len(evs) != 1 || evs[0].RunID != first.RunID || evs[0].Status != events.StatusSuccess {
		t.Fatalf("model-training events %+v, want the resumed run announced once", evs)
	}
}

func TestARunningRunWithOtherParamsIsKilledNotResumed(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	calls := 0
	metrics := map[string]score.Metrics{model.TypeGRU: {RMSE: 0.1}}
	old, err := e.tracker.CreateRun(ctx, "1", "gru-old", map[string]string{TagModelType: model.TypeGRU, TagConfigHash: dataEv.ConfigHash})
	if err != nil {
		t.Fatal(err)
	}
	// Interrupted under an earlier deployment that trained with 5 epochs.
	if err := e.tracker.LogBatch(ctx, old.Info.RunID, nil, map[string]string{"epochs": "5", "model_type": model.TypeGRU}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Train(ctx, e.deps, TrainConfig{ModelType: model.TypeGRU, Train: fakeTrain(metrics, &calls)}, dataEv)
	if err != nil || res.Resumed || res.RunID == old.Info.RunID {
		t.Fatalf("train: %+v %v, want a new run", res, err)
	}
	if st := e.tracker.get(old.Info.RunID).Info.Status; st != tracking.StatusKilled {
		t.Fatalf("the abandoned run is %s, want KILLED", st)
	}
	if st := e.tracker.get(res.RunID).Info.Status; st != tracking.StatusFinished {
		t.Fatalf("the new run is %s, want FINISHED", st)
	}
}

// A training cut by the handler's deadline is the model's failure (a
// redelivery would run out the same way): FAILED, announced, not resumed
// forever. A shutdown's cancellation stays an interruption.
func TestATrainingPastTheHandlerDeadlineFails(t *testing.T) {
	for name, tc := range map[string]struct {
		ctx        func() (context.Context, context.CancelFunc)
		wantFailed bool
	}{
		"deadline": {func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now())
		}, true},
		"shutdown": {func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, false},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := Preprocess(context.Background(), e.deps, smallData); err != nil {
				t.Fatal(err)
			}
			dataEv := e.bus.on(events.TopicTrainingData)[0]
			blocked := func(ctx context.Context, _ string, _ *preprocess.Processed, _ map[string]string, _ func(string, ...any)) (TrainOutput, error) {
				<-ctx.Done()
				return TrainOutput{}, ctx.Err()
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			res, err := Train(ctx, e.deps, TrainConfig{ModelType: model.TypeGRU, Train: blocked}, dataEv)
			if got := errors.Is(err, ErrModelFailed); got != tc.wantFailed {
				t.Fatalf("Train = %v, ErrModelFailed %v, want %v", err, got, tc.wantFailed)
			}
			want := tracking.StatusRunning
			if tc.wantFailed {
				want = tracking.StatusFailed
			}
			if st := e.tracker.get(res.RunID).Info.Status; st != want {
				t.Fatalf("run %s is %s, want %s", res.RunID, st, want)
			}
		})
	}
}
