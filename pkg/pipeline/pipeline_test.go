package pipeline

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
)

type env struct {
	deps    Deps
	store   *dirstore.Store
	bus     *recordingBus
	tracker *memTracker
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := objstore.EnsureBuckets(context.Background(), store, objstore.AllBuckets...); err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, bus: &recordingBus{}, tracker: &memTracker{}}
	e.deps = Deps{Store: store, Events: e.bus, Tracker: e.tracker}
	return e
}

var smallData = PreprocessConfig{Rows: 400, Seed: 7, Config: preprocess.DefaultConfig()}

// fakeTrain returns the given test metrics per model type (or fails).
func fakeTrain(test map[string]score.Metrics, calls *int) TrainFunc {
	return func(_ context.Context, modelType string, data *preprocess.Processed, _ map[string]string, progress func(string, ...any)) (TrainOutput, error) {
		*calls++
		progress("epoch", "epoch", 1)
		m, ok := test[modelType]
		if !ok {
			return TrainOutput{}, errors.New("diverged")
		}
		return TrainOutput{
			Artifact: model.Artifact{ModelType: modelType, Targets: data.Targets, Features: data.Features, Window: data.Config.Window},
			Test:     m, Baseline: score.Metrics{RMSE: 1, MAE: 1, MSE: 1}, PerKPIRMSE: map[string]float64{"down": 3},
		}, nil
	}
}

func TestPreprocessGeneratesOnceAndAnnounces(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	res, err := Preprocess(ctx, e.deps, smallData)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := e.store.Get(ctx, objstore.BucketDataset, RawKey)
	if err != nil {
		t.Fatalf("generated dataset not stored: %v", err)
	}
	want := smallData.Config
	want.RawSHA256 = RawDigest(raw)
	if !res.Generated || res.Reused || res.ConfigHash != want.Hash() {
		t.Fatalf("first run: %+v, want version %s", res, want.Hash())
	}
	p, err := LoadProcessed(ctx, e.store, res.ConfigHash)
	if err != nil || p.Stats.TrainWindows == 0 || p.ConfigHash != res.ConfigHash {
		t.Fatalf("processed data unreadable: %v", err)
	}
	res2, err := Preprocess(ctx, e.deps, smallData)
	if err != nil || !res2.Reused || res2.Generated {
		t.Fatalf("second run: %+v %v", res2, err)
	}
	evs := e.bus.on(events.TopicTrainingData)
	if len(evs) != 2 || evs[1].ConfigHash != res.ConfigHash || evs[1].Status != events.StatusSuccess || evs[1].Operation != "Processed" ||
		evs[1].Object != "processed-data/"+res.ConfigHash+"/meta.json" {
		t.Fatalf("events: %+v", evs)
	}
	if latest, err := ReadLatestData(ctx, e.store); err != nil || latest.ConfigHash != res.ConfigHash {
		t.Fatalf("latest: %+v %v", latest, err)
	}
}

// csvOf generates a raw CSV of rows rows from seed.
func csvOf(t *testing.T, rows int, seed uint64) []byte {
	t.Helper()
	frame, err := dataset.Generate(dataset.GenerateConfig{Rows: rows, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, frame); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestANewDatasetIsANewDataVersionAndTheSameOneIsReused(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	first, second := csvOf(t, 400, 1), csvOf(t, 400, 2)
	versions := map[string]string{}
	for _, step := range []struct {
		name   string
		raw    []byte
		reused bool
	}{{"first", first, false}, {"second", second, false}, {"first again", first, true}} {
		if err := PutDataset(ctx, e.store, RawKey, step.raw, smallData.Config); err != nil {
			t.Fatal(err)
		}
		res, err := Preprocess(ctx, e.deps, smallData)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reused != step.reused || res.Generated {
			t.Fatalf("%s dataset: %+v", step.name, res)
		}
		versions[step.name] = res.ConfigHash
		if latest, err := ReadLatestData(ctx, e.store); err != nil || latest.ConfigHash != res.ConfigHash {
			t.Fatalf("%s dataset: latest %+v %v", step.name, latest, err)
		}
		p, err := LoadProcessed(ctx, e.store, res.ConfigHash)
		if err != nil || p.Config.RawSHA256 != RawDigest(step.raw) {
			t.Fatalf("%s dataset: processed data does not name its CSV: %v", step.name, err)
		}
	}
	if versions["first"] == versions["second"] || versions["first"] != versions["first again"] {
		t.Fatalf("versions %v: want two different CSVs to differ and the same CSV to match", versions)
	}
}

func TestPutDatasetRefusesABadCSVAndStoresNothing(t *testing.T) {
	good := string(csvOf(t, 400, 3))
	lines := strings.SplitAfter(good, "\n")
	for name, tc := range map[string]struct {
		csv  string
		want string
	}{
		"bad header":    {"when,down\n" + strings.Join(lines[1:], ""), "line 1: header lacks column(s)"},
		"bad timestamp": {strings.Join(lines[:5], "") + "yesterday" + lines[5][strings.IndexByte(lines[5], ','):] + strings.Join(lines[6:], ""), `line 6, column "time"`},
		"too few rows":  {strings.Join(lines[:6], ""), "too few rows"},
	} {
		t.Run(name, func(t *testing.T) {
			e, ctx := newEnv(t), context.Background()
			err := PutDataset(ctx, e.store, RawKey, []byte(tc.csv), smallData.Config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if _, err := e.store.Stat(ctx, objstore.BucketDataset, RawKey); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("a refused dataset was stored (stat: %v)", err)
			}
		})
	}
}

func TestFullFlowPromotesLowestScoreOnce(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	metrics := map[string]score.Metrics{
		model.TypeGRU:     {RMSE: 0.20, MAE: 0.10, MSE: 0.04},
		model.TypeLSTM:    {RMSE: 0.10, MAE: 0.08, MSE: 0.01}, // lowest score
		model.TypeProphet: {RMSE: 0.30, MAE: 0.20, MSE: 0.09},
	}
	calls := 0
	ev := &Evaluator{Deps: e.deps}
	for i, mt := range model.Types {
		res, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(metrics, &calls)}, dataEv)
		if err != nil || res.Skipped {
			t.Fatalf("train %s: %+v %v", mt, res, err)
		}
		trained := e.bus.on(events.TopicModelTraining)
		got, err := ev.Evaluate(ctx, trained[len(trained)-1])
		if err != nil {
			t.Fatal(err)
		}
		if last := i == len(model.Types)-1; (got.Promoted != nil) != last {
			t.Fatalf("after %s: promoted=%v reason=%q", mt, got.Promoted != nil, got.Reason)
		}
	}
	cur, err := ReadPromotion(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ModelType != model.TypeLSTM || cur.Score != score.Score(metrics[model.TypeLSTM]) || len(cur.Candidates) != 3 {
		t.Fatalf("promotion: %+v", cur)
	}
	if _, err := e.store.Get(ctx, cur.Artifact.Bucket, cur.Artifact.Key); err != nil {
		t.Fatalf("promoted artifact: %v", err)
	}
	if e.tracker.get(cur.RunID).Tag(TagPromoted) != "true" {
		t.Fatal("winner not tagged promoted=true")
	}
	if sel := e.bus.on(events.TopicModelSelected); len(sel) != 1 || sel[0].RunID != cur.RunID {
		t.Fatalf("model-selected events: %+v", sel)
	}

	// Replays: training is skipped and re-announced, eval does not promote again.
	for _, mt := range model.Types {
		res, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(metrics, &calls)}, dataEv)
		if err != nil || !res.Skipped {
			t.Fatalf("replayed train %s: %+v %v", mt, res, err)
		}
	}
	if calls != 3 {
		t.Fatalf("trainer ran %d times, want 3", calls)
	}
	for _, tev := range e.bus.on(events.TopicModelTraining) {
		got, err := ev.Evaluate(ctx, tev)
		if err != nil || got.Promoted != nil {
			t.Fatalf("replay promoted again: %+v %v", got, err)
		}
	}
	hist, _ := e.store.List(ctx, objstore.BucketModelPromotion, HistoryPrefix)
	if len(hist) != 1 || len(e.bus.on(events.TopicModelSelected)) != 1 {
		t.Fatalf("history %d records, %d model-selected events; want 1 each", len(hist), len(e.bus.on(events.TopicModelSelected)))
	}
}

func TestFailedModelDoesNotCount(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	calls := 0
	good := map[string]score.Metrics{model.TypeGRU: {RMSE: 0.1}, model.TypeLSTM: {RMSE: 0.2}} // PROPHET fails
	ev := &Evaluator{Deps: e.deps}
	for _, mt := range model.Types {
		res, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(good, &calls)}, dataEv)
		if mt == model.TypeProphet {
			if !errors.Is(err, ErrModelFailed) || e.tracker.get(res.RunID).Info.Status != "FAILED" {
				t.Fatalf("failing train: err=%v status=%s", err, e.tracker.get(res.RunID).Info.Status)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	trained := e.bus.on(events.TopicModelTraining)
	if last := trained[len(trained)-1]; last.Status != events.StatusFailed || !strings.Contains(last.Error, "diverged") {
		t.Fatalf("failure event: %+v", last)
	}
	// Even an event that claims success does not make the FAILED run count.
	forged := trained[len(trained)-1]
	forged.Status, forged.Error = events.StatusSuccess, ""
	for _, tev := range append(trained, forged) {
		if got, err := ev.Evaluate(ctx, tev); err != nil || got.Promoted != nil {
			t.Fatalf("promoted without PROPHET: %+v %v", got, err)
		}
	}
	if _, err := ReadPromotion(ctx, e.store); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("current.json exists: %v", err)
	}
}

func TestStaleDataVersionIsNotPromoted(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	oldEv := e.bus.on(events.TopicTrainingData)[0]
	calls := 0
	m := map[string]score.Metrics{model.TypeGRU: {RMSE: 0.1}, model.TypeLSTM: {RMSE: 0.2}, model.TypeProphet: {RMSE: 0.3}}
	for _, mt := range model.Types {
		if _, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(m, &calls)}, oldEv); err != nil {
			t.Fatal(err)
		}
	}
	newer := smallData
	newer.Config.Window = 12
	if _, err := Preprocess(ctx, e.deps, newer); err != nil {
		t.Fatal(err)
	}
	ev := &Evaluator{Deps: e.deps}
	for _, tev := range e.bus.on(events.TopicModelTraining) {
		if got, err := ev.Evaluate(ctx, tev); err != nil || got.Promoted != nil || got.Reason != "stale data version" {
			t.Fatalf("stale model: %+v %v", got, err)
		}
	}
}

func TestScoreTieGoesToNewestRun(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	same := score.Metrics{RMSE: 0.1, MAE: 0.1, MSE: 0.01}
	m := map[string]score.Metrics{model.TypeGRU: same, model.TypeLSTM: same, model.TypeProphet: {RMSE: 0.5, MAE: 0.5, MSE: 0.25}}
	calls := 0
	var lstmRun string
	for _, mt := range []string{model.TypeGRU, model.TypeProphet, model.TypeLSTM} { // LSTM trains last
		res, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(m, &calls)}, dataEv)
		if err != nil {
			t.Fatal(err)
		}
		if mt == model.TypeLSTM {
			lstmRun = res.RunID
		}
	}
	trained := e.bus.on(events.TopicModelTraining)
	got, err := (&Evaluator{Deps: e.deps}).Evaluate(ctx, trained[len(trained)-1])
	if err != nil || got.Promoted == nil || got.Promoted.RunID != lstmRun {
		t.Fatalf("tie: promoted %+v (want the newest run %s), err %v", got.Promoted, lstmRun, err)
	}
}

func TestAFailedAnnounceAfterTrainingLeavesTheRunFinished(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	metrics := map[string]score.Metrics{model.TypeGRU: {RMSE: 0.2, MAE: 0.1, MSE: 0.04}}
	calls := 0
	cfg := TrainConfig{ModelType: model.TypeGRU, Train: fakeTrain(metrics, &calls)}
	e.bus.failNext = map[string]int{events.TopicModelTraining: 1}
	res, err := Train(ctx, e.deps, cfg, dataEv)
	if err == nil {
		t.Fatal("a failed announce must be an error (the event is redelivered)")
	}
	if st := e.tracker.get(res.RunID).Info.Status; st != tracking.StatusFinished {
		t.Fatalf("run %s is %s after its announce failed, want FINISHED", res.RunID, st)
	}
	again, err := Train(ctx, e.deps, cfg, dataEv)
	if err != nil || !again.Skipped || again.RunID != res.RunID || calls != 1 {
		t.Fatalf("redelivery: %+v %v (trainings: %d), want the finished run announced again", again, err, calls)
	}
	if evs := e.bus.on(events.TopicModelTraining); len(evs) != 1 || evs[0].Status != events.StatusSuccess || evs[0].RunID != res.RunID {
		t.Fatalf("model-training events %+v", evs)
	}
}

func TestARedeliveredEvalFinishesAnInterruptedPromotion(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	dataEv := e.bus.on(events.TopicTrainingData)[0]
	metrics := map[string]score.Metrics{
		model.TypeGRU:     {RMSE: 0.2, MAE: 0.1, MSE: 0.04},
		model.TypeLSTM:    {RMSE: 0.1, MAE: 0.08, MSE: 0.01},
		model.TypeProphet: {RMSE: 0.3, MAE: 0.2, MSE: 0.09},
	}
	calls := 0
	for _, mt := range model.Types {
		if _, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(metrics, &calls)}, dataEv); err != nil {
			t.Fatal(err)
		}
	}
	trained := e.bus.on(events.TopicModelTraining)
	last := trained[len(trained)-1]
	ev := &Evaluator{Deps: e.deps}
	e.bus.failNext = map[string]int{events.TopicModelSelected: 1}
	if _, err := ev.Evaluate(ctx, last); err == nil {
		t.Fatal("a failed model-selected publish must be an error (the event is redelivered)")
	}
	cur, err := ReadPromotion(ctx, e.store)
	if err != nil {
		t.Fatalf("current.json: %v", err)
	}
	if e.tracker.get(cur.RunID).Tag(TagPromoted) == "true" {
		t.Fatal("the run is tagged promoted although model-selected never went out")
	}
	res, err := ev.Evaluate(ctx, last)
	if err != nil || res.Promoted == nil || res.Promoted.RunID != cur.RunID {
		t.Fatalf("redelivery: %+v %v, want the promotion finished", res, err)
	}
	if e.tracker.get(cur.RunID).Tag(TagPromoted) != "true" {
		t.Fatal("the redelivery did not tag the promoted run")
	}
	sel := e.bus.on(events.TopicModelSelected)
	if len(sel) != 1 || sel[0].RunID != cur.RunID {
		t.Fatalf("model-selected events %+v, want one for %s", sel, cur.RunID)
	}
	res, err = ev.Evaluate(ctx, last)
	if err != nil || res.Reason != ReasonAlreadyPromoted || len(e.bus.on(events.TopicModelSelected)) != 1 {
		t.Fatalf("a third delivery: %+v %v, want already promoted and nothing sent", res, err)
	}
}

func TestTrainingAMissingDataVersionIsAPermanentError(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	calls := 0
	_, err := Train(ctx, e.deps, TrainConfig{ModelType: model.TypeGRU, Train: fakeTrain(nil, &calls)},
		events.Event{Operation: "Processed", Status: events.StatusSuccess, ConfigHash: "0123abcd"})
	if !events.IsPermanent(err) || !strings.Contains(err.Error(), "data version 0123abcd is not in the store") || calls != 0 {
		t.Fatalf("got %v (trainings %d), want a permanent error naming the version", err, calls)
	}
}

func TestReplayingEveryEventTwiceInReverseOrderKeepsThePromotion(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	if _, err := Preprocess(ctx, e.deps, smallData); err != nil {
		t.Fatal(err)
	}
	metrics := map[string]score.Metrics{
		model.TypeGRU:     {RMSE: 0.20, MAE: 0.10, MSE: 0.04},
		model.TypeLSTM:    {RMSE: 0.10, MAE: 0.08, MSE: 0.01},
		model.TypeProphet: {RMSE: 0.30, MAE: 0.20, MSE: 0.09},
	}
	calls := 0
	ev := &Evaluator{Deps: e.deps}
	trainAll := func(dataEv events.Event) {
		for _, mt := range model.Types {
			if _, err := Train(ctx, e.deps, TrainConfig{ModelType: mt, Train: fakeTrain(metrics, &calls)}, dataEv); err != nil {
				t.Fatal(err)
			}
		}
	}
	trainAll(e.bus.on(events.TopicTrainingData)[0])
	for _, tev := range e.bus.on(events.TopicModelTraining) {
		if _, err := ev.Evaluate(ctx, tev); err != nil {
			t.Fatal(err)
		}
	}
	first, err := ReadPromotion(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}

	type delivery struct {
		topic string
		ev    events.Event
	}
	var all []delivery
	for _, topic := range []string{events.TopicTrainingData, events.TopicModelTraining} {
		for _, x := range e.bus.on(topic) {
			all = append(all, delivery{topic, x}, delivery{topic, x})
		}
	}
	slices.Reverse(all)
	for _, d := range all {
		switch d.topic {
		case events.TopicTrainingData:
			trainAll(d.ev)
		default:
			if _, err := ev.Evaluate(ctx, d.ev); err != nil {
				t.Fatal(err)
			}
		}
	}

	cur, err := ReadPromotion(ctx, e.store)
	if err != nil || cur.RunID != first.RunID || !cur.PromotedAt.Equal(first.PromotedAt) {
		t.Fatalf("promotion after the replays: %+v %v, want the first one (%s) untouched", cur, err, first.RunID)
	}
	if calls != len(model.Types) {
		t.Fatalf("trainer ran %d times, want %d (replays must not retrain)", calls, len(model.Types))
	}
	hist, _ := e.store.List(ctx, objstore.BucketModelPromotion, HistoryPrefix)
	if len(hist) != 1 || len(e.bus.on(events.TopicModelSelected)) != 1 {
		t.Fatalf("%d promotion records and %d model-selected events, want 1 each", len(hist), len(e.bus.on(events.TopicModelSelected)))
	}
	promoted := 0
	for _, r := range e.tracker.runs {
		if r.Tag(TagPromoted) == "true" {
			promoted++
		}
	}
	if promoted != 1 {
		t.Fatalf("%d runs tagged promoted=true, want 1", promoted)
	}
}

// An upload is preprocessed from its own key, leaving the default dataset
// alone; a named upload that is missing is an error, never generated data.
func TestPreprocessReadsANamedUpload(t *testing.T) {
	e, ctx := newEnv(t), context.Background()
	upload := csvOf(t, 400, 7)
	key := UploadKey(upload)
	cfg := smallData
	cfg.RawKey = key
	if _, err := Preprocess(ctx, e.deps, cfg); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("a missing upload: %v, want not found", err)
	}
	if _, err := e.store.Stat(ctx, objstore.BucketDataset, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a missing upload was generated in its place: %v", err)
	}
	if err := PutDataset(ctx, e.store, key, upload, smallData.Config); err != nil {
		t.Fatal(err)
	}
	res, err := Preprocess(ctx, e.deps, cfg)
	if err != nil || res.Generated {
		t.Fatalf("Preprocess = %+v, %v", res, err)
	}
	p, err := LoadProcessed(ctx, e.store, res.ConfigHash)
	if err != nil || p.Config.RawSHA256 != RawDigest(upload) {
		t.Fatalf("the version does not name the upload: %v", err)
	}
	if _, err := e.store.Stat(ctx, objstore.BucketDataset, RawKey); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("the default dataset was written: %v", err)
	}
}
