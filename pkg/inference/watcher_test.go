package inference

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
)

func TestWatcherLoadsAndSwapsPromotedModel(t *testing.T) {
	ctx := context.Background()
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := objstore.EnsureBuckets(ctx, store, objstore.AllBuckets...); err != nil {
		t.Fatal(err)
	}
	loads := 0
	w := &Watcher{
		Server: NewServer(Config{}),
		Store:  store,
		Load: func(artifact []byte) (Predictor, error) {
			loads++
			return &fakePredictor{runID: string(artifact)}, nil
		},
	}
	if _, err := w.Refresh(ctx); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("before promotion: got %v, want ErrNotFound", err)
	}
	promote := func(run string) {
		key := fmt.Sprintf("1/%s/artifacts/model/model.json", run)
		if err := store.Put(ctx, objstore.BucketMLflow, key, []byte(run), "application/json"); err != nil {
			t.Fatal(err)
		}
		rec := fmt.Sprintf(`{"run_id":%q,"model_type":"GRU","artifact":{"bucket":"mlflow","key":%q}}`, run, key)
		if err := store.Put(ctx, objstore.BucketModelPromotion, PromotionKey, []byte(rec), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	promote("run-a")
	if changed, err := w.Refresh(ctx); err != nil || !changed || w.Server.Model().RunID() != "run-a" {
		t.Fatalf("first load: changed=%v err=%v", changed, err)
	}
	if changed, err := w.Refresh(ctx); err != nil || changed || loads != 1 {
		t.Fatalf("unchanged promotion reloaded: changed=%v err=%v loads=%d", changed, err, loads)
	}
	promote("run-b")
	if changed, err := w.Refresh(ctx); err != nil || !changed || w.Server.Model().RunID() != "run-b" {
		t.Fatalf("swap: changed=%v err=%v", changed, err)
	}
	// A broken record keeps the current model.
	if err := store.Put(ctx, objstore.BucketModelPromotion, PromotionKey, []byte(`{"run_id":"x"}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Refresh(ctx); err == nil || w.Server.Model().RunID() != "run-b" {
		t.Fatalf("broken record: err=%v model=%s", err, w.Server.Model().RunID())
	}
}

func TestWatcherRunWaitsThenFollowsTriggers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := objstore.EnsureBuckets(ctx, store, objstore.AllBuckets...); err != nil {
		t.Fatal(err)
	}
	promote := func(run string) {
		key := "1/" + run + "/artifacts/model/model.json"
		if err := store.Put(ctx, objstore.BucketMLflow, key, []byte(run), "application/json"); err != nil {
			t.Fatal(err)
		}
		rec := fmt.Sprintf(`{"run_id":%q,"artifact":{"bucket":"mlflow","key":%q}}`, run, key)
		if err := store.Put(ctx, objstore.BucketModelPromotion, PromotionKey, []byte(rec), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	trigger := make(chan struct{})
	srv := NewServer(Config{})
	// A poll period far beyond the test: only triggers cause refreshes.
	w := &Watcher{Server: srv, Store: store, Poll: time.Hour, Trigger: trigger,
		Load: func(b []byte) (Predictor, error) { return &fakePredictor{runID: string(b)}, nil }}
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()

	trigger <- struct{}{} // no promotion yet: Run keeps waiting
	if srv.Model() != nil {
		t.Fatal("model loaded before any promotion")
	}
	promote("run-a")
	trigger <- struct{}{}
	waitForRun(t, srv, "run-a")
	promote("run-b")
	trigger <- struct{}{}
	waitForRun(t, srv, "run-b")
	cancel()
	<-stopped
}

func waitForRun(t *testing.T, s *Server, run string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m := s.Model(); m == nil || m.RunID() != run; m = s.Model() {
		if time.Now().After(deadline) {
			t.Fatalf("model %s never loaded", run)
		}
		runtime.Gosched()
	}
}
