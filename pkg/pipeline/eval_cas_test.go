package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// Store calls a gatedStore can pause at.
const (
	afterGet    = "Get"   // after the call returns
	beforeWrite = "write" // before a Put or PutIfVersion is made
)

// gatedStore pauses an evaluator at one store call on one object, the
// first time only, until the test releases it: another evaluator (another
// pod) can then run a whole promotion between two of this one's steps,
// deterministically. A write gate stops Put as well as PutIfVersion, so an
// evaluator writing current.json unconditionally fails the tests too.
type gatedStore struct {
	objstore.Store
	op, bucket, key string
	reached         chan struct{} // closed when the call is reached
	release         chan struct{} // closed by the test to let it go on
	paused          bool
}

func newGatedStore(s objstore.Store, op, bucket, key string) *gatedStore {
	return &gatedStore{Store: s, op: op, bucket: bucket, key: key,
		reached: make(chan struct{}), release: make(chan struct{})}
}

// pause blocks the first matching call. Only the gated evaluator calls its
// store, one call at a time (its mutex), so paused needs no lock.
func (g *gatedStore) pause(ctx context.Context, op, bucket, key string) error {
	if g.paused || op != g.op || bucket != g.bucket || key != g.key {
		return nil
	}
	g.paused = true
	close(g.reached)
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedStore) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	b, err := g.Store.Get(ctx, bucket, key)
	if perr := g.pause(ctx, afterGet, bucket, key); perr != nil {
		return nil, perr
	}
	return b, err
}

func (g *gatedStore) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	if err := g.pause(ctx, beforeWrite, bucket, key); err != nil {
		return err
	}
	return g.Store.Put(ctx, bucket, key, body, contentType)
}

func (g *gatedStore) PutIfVersion(ctx context.Context, bucket, key string, body []byte, contentType, version string) error {
	if err := g.pause(ctx, beforeWrite, bucket, key); err != nil {
		return err
	}
	return g.Store.PutIfVersion(ctx, bucket, key, body, contentType, version)
}

type evalOutcome struct {
	res EvalResult
	err error
}

// evaluateUntilGate starts ev.Evaluate(tev) and returns once it is paused
// at g's call; its outcome arrives on the channel after g is released.
func evaluateUntilGate(t *testing.T, ev *Evaluator, g *gatedStore, tev events.Event) <-chan evalOutcome {
	t.Helper()
	done := make(chan evalOutcome, 1)
	go func() {
		res, err := ev.Evaluate(t.Context(), tev)
		done <- evalOutcome{res, err}
	}()
	select {
	case <-g.reached:
	case o := <-done:
		t.Fatalf("the evaluation ended before reaching %s %s/%s: %+v, %v", g.op, g.bucket, g.key, o.res, o.err)
	}
	return done
}

var casMetrics = map[string]score.Metrics{
	model.TypeGRU:     {RMSE: 0.20, MAE: 0.10, MSE: 0.04},
	model.TypeLSTM:    {RMSE: 0.10, MAE: 0.08, MSE: 0.01},
	model.TypeProphet: {RMSE: 0.30, MAE: 0.20, MSE: 0.09},
}

// newDataVersion stores the raw CSV of seed, preprocesses it (it becomes
// the latest data version), trains every model type on it and returns the
// version and its last model-training event, the one eval promotes on.
func (e *env) newDataVersion(t *testing.T, seed uint64) (string, events.Event) {
	t.Helper()
	ctx := t.Context()
	if err := PutDataset(ctx, e.store, RawKey, csvOf(t, 400, seed), smallData.Config); err != nil {
		t.Fatal(err)
	}
	res, err := Preprocess(ctx, e.deps, smallData)
	if err != nil {
		t.Fatal(err)
	}
	data := e.bus.on(events.TopicTrainingData)
	calls := 0
	for _, mt := range model.Types {
		if _, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(casMetrics, &calls)}, data[len(data)-1]); err != nil {
			t.Fatal(err)
		}
	}
	trained := e.bus.on(events.TopicModelTraining)
	return res.ConfigHash, trained[len(trained)-1]
}

// promotedPerVersion counts the runs tagged promoted=true per data version.
func (e *env) promotedPerVersion(t *testing.T) map[string]int {
	t.Helper()
	runs, err := e.tracker.SearchRuns(t.Context(), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range runs {
		if r.Tag(TagPromoted) == "true" {
			out[r.Tag(TagConfigHash)]++
		}
	}
	return out
}

// selectedVersions lists the data versions of the model-selected events.
func (e *env) selectedVersions() []string {
	var out []string
	for _, ev := range e.bus.on(events.TopicModelSelected) {
		out = append(out, ev.ConfigHash)
	}
	return out
}

func mustPromote(t *testing.T, ev *Evaluator, tev events.Event) Promotion {
	t.Helper()
	res, err := ev.Evaluate(t.Context(), tev)
	if err != nil || res.Promoted == nil {
		t.Fatalf("promotion of %s: %+v, %v", tev.ConfigHash, res, err)
	}
	return *res.Promoted
}

// Two eval pods: the one on an older data version has decided and is about
// to write current.json when the other promotes a newer version. The older
// write must fail (to be retried, not dead-lettered), and its redelivery
// must drop the stale version, leaving the newer promotion in place.
func TestAnOlderVersionsPromotionLosesToANewerOneWrittenMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		earlier bool // a third, still older version is promoted first
	}{{"first promotion", false}, {"over an earlier promotion", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pod2 := &Evaluator{Deps: e.deps}
			var earlier string
			if tc.earlier {
				var tev events.Event
				earlier, tev = e.newDataVersion(t, 1)
				mustPromote(t, pod2, tev)
			}
			older, olderEv := e.newDataVersion(t, 2)
			gate := newGatedStore(e.store, beforeWrite, objstore.BucketModelPromotion, CurrentKey)
			pod1Deps := e.deps
			pod1Deps.Store = gate
			pod1 := &Evaluator{Deps: pod1Deps}
			done := evaluateUntilGate(t, pod1, gate, olderEv)

			newer, newerEv := e.newDataVersion(t, 3)
			won := mustPromote(t, pod2, newerEv)
			close(gate.release)
			o := <-done
			if !errors.Is(o.err, objstore.ErrVersionMismatch) || events.IsPermanent(o.err) || o.res.Promoted != nil {
				t.Fatalf("older version's write: %+v, %v; want a retried (non-permanent) version mismatch", o.res, o.err)
			}

			res, err := pod1.Evaluate(t.Context(), olderEv)
			if err != nil || res.Reason != ReasonStaleData || res.Promoted != nil {
				t.Fatalf("redelivery of the older version's event: %+v, %v; want %q", res, err, ReasonStaleData)
			}
			cur, err := ReadPromotion(t.Context(), e.store)
			if err != nil || cur.ConfigHash != newer || cur.RunID != won.RunID || !cur.PromotedAt.Equal(won.PromotedAt) {
				t.Fatalf("current.json = %+v, %v; want the newer version's promotion of %s", cur, err, won.RunID)
			}
			promoted := e.promotedPerVersion(t)
			if promoted[newer] != 1 || promoted[older] != 0 || promoted[earlier] != 0 {
				t.Fatalf("promoted=true runs per version %v; want 1 for the newer %s only", promoted, newer)
			}
			for _, v := range e.selectedVersions() {
				if v == older {
					t.Fatalf("model-selected announced the older version %s: %v", older, e.selectedVersions())
				}
			}
		})
	}
}

// The pod on an older version passed the latest-data check, then a newer
// version was preprocessed and promoted before it read current.json: it
// finds current.json naming a newer version and refuses, writing nothing.
func TestEvalRefusesToReplaceThePromotionOfANewerVersion(t *testing.T) {
	e := newEnv(t)
	pod2 := &Evaluator{Deps: e.deps}
	_, earlierEv := e.newDataVersion(t, 1)
	mustPromote(t, pod2, earlierEv)
	older, olderEv := e.newDataVersion(t, 2)
	gate := newGatedStore(e.store, afterGet, objstore.BucketProcessed, LatestDataKey)
	pod1Deps := e.deps
	pod1Deps.Store = gate
	pod1 := &Evaluator{Deps: pod1Deps}
	done := evaluateUntilGate(t, pod1, gate, olderEv)

	newer, newerEv := e.newDataVersion(t, 3)
	won := mustPromote(t, pod2, newerEv)
	hist, err := e.store.List(t.Context(), objstore.BucketModelPromotion, HistoryPrefix)
	if err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	o := <-done
	if o.err != nil || o.res.Reason != ReasonStaleData || o.res.Promoted != nil {
		t.Fatalf("older version's evaluation: %+v, %v; want %q", o.res, o.err, ReasonStaleData)
	}
	cur, err := ReadPromotion(t.Context(), e.store)
	if err != nil || cur.ConfigHash != newer || cur.RunID != won.RunID {
		t.Fatalf("current.json = %+v, %v; want the newer version's promotion of %s", cur, err, won.RunID)
	}
	if after, _ := e.store.List(t.Context(), objstore.BucketModelPromotion, HistoryPrefix); len(after) != len(hist) {
		t.Fatalf("%d promotion records, %d before: the refused evaluation wrote one", len(after), len(hist))
	}
	if promoted := e.promotedPerVersion(t); promoted[newer] != 1 || promoted[older] != 0 {
		t.Fatalf("promoted=true runs per version %v; want 1 for the newer %s only", promoted, newer)
	}
}

// Both pods evaluate the same data version and pick the same winner: the
// second writer fails, and its redelivery finds the promotion done.
func TestTwoPodsOnOneVersionPromoteOnce(t *testing.T) {
	e := newEnv(t)
	version, tev := e.newDataVersion(t, 1)
	gate := newGatedStore(e.store, beforeWrite, objstore.BucketModelPromotion, CurrentKey)
	pod1Deps := e.deps
	pod1Deps.Store = gate
	pod1, pod2 := &Evaluator{Deps: pod1Deps}, &Evaluator{Deps: e.deps}
	done := evaluateUntilGate(t, pod1, gate, tev)
	won := mustPromote(t, pod2, tev)
	close(gate.release)
	if o := <-done; !errors.Is(o.err, objstore.ErrVersionMismatch) || events.IsPermanent(o.err) {
		t.Fatalf("second writer: %+v, %v; want a retried version mismatch", o.res, o.err)
	}
	res, err := pod1.Evaluate(t.Context(), tev)
	if err != nil || res.Reason != ReasonAlreadyPromoted {
		t.Fatalf("redelivery: %+v, %v; want %q", res, err, ReasonAlreadyPromoted)
	}
	cur, err := ReadPromotion(t.Context(), e.store)
	if err != nil || cur.RunID != won.RunID || !cur.PromotedAt.Equal(won.PromotedAt) {
		t.Fatalf("current.json = %+v, %v; want pod2's promotion of %s", cur, err, won.RunID)
	}
	if promoted := e.promotedPerVersion(t); promoted[version] != 1 || len(promoted) != 1 {
		t.Fatalf("promoted=true runs per version %v; want exactly one", promoted)
	}
	if sel := e.selectedVersions(); len(sel) != 1 {
		t.Fatalf("model-selected events for %v; want one", sel)
	}
	// The loser wrote no history: one record, the winner's.
	if hist, err := e.store.List(t.Context(), objstore.BucketModelPromotion, HistoryPrefix); err != nil || len(hist) != 1 {
		t.Fatalf("history records %v, %v; want one (the winner's)", hist, err)
	}
	if r := e.tracker.get(won.RunID); r.Tag(TagPromoted) != "true" || r.Info.Status != tracking.StatusFinished {
		t.Fatalf("winner %s: promoted=%q status %s", won.RunID, r.Tag(TagPromoted), r.Info.Status)
	}
}
