package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

func processed(t testing.TB, rows int) *preprocess.Processed {
	t.Helper()
	f, err := dataset.Generate(dataset.GenerateConfig{Rows: rows, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	p, err := preprocess.Run(f, preprocess.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// small params keep unit tests quick; the default-size runs are benchmarks.
var smallParams = map[string]map[string]string{
	model.TypeGRU:     {"hidden": "16", "epochs": "4", "max_train_windows": "2000"},
	model.TypeLSTM:    {"hidden": "16", "epochs": "4", "max_train_windows": "2000"},
	model.TypeProphet: {},
}

var (
	dataOnce sync.Once
	data     *preprocess.Processed
)

func testData(t testing.TB) *preprocess.Processed {
	dataOnce.Do(func() { data = processed(t, 5000) })
	return data
}

func TestEachModelBeatsPersistence(t *testing.T) {
	p := testData(t)
	for _, typ := range model.Types {
		t.Run(typ, func(t *testing.T) {
			epochs := 0
			res, err := Train(context.Background(), TrainInput{ModelType: typ, Data: p, Params: smallParams[typ], Seed: 1, RunID: "r1",
				Progress: func(int, float64, float64) { epochs++ }})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: test %+v, persistence %+v, %d epochs", typ, res.Test, res.Baseline, epochs)
			if epochs == 0 {
				t.Error("progress never reported")
			}
			if !(res.Test.RMSE < res.Baseline.RMSE) || !(res.Test.MSE < res.Baseline.MSE) {
				t.Fatalf("%s rmse %g / mse %g do not beat persistence %g / %g", typ, res.Test.RMSE, res.Test.MSE, res.Baseline.RMSE, res.Baseline.MSE)
			}
			if len(res.PerKPI) != dataset.NumKPIs || res.PerKPI["down"].RMSE < 1e5 || res.PerKPI["rb_up_var"].RMSE > 1e-6 {
				t.Fatalf("per-KPI metrics not in original units: down %+v rb_up_var %+v", res.PerKPI["down"], res.PerKPI["rb_up_var"])
			}
			a := res.Artifact
			if a.ModelType != typ || a.RunID != "r1" || a.ConfigHash != p.ConfigHash || len(a.LastWindow) != 10 ||
				a.Metrics["rmse"] != res.Test.RMSE || a.Params["seed"] != "1" {
				t.Fatalf("artifact incomplete: %+v", a.Metrics)
			}
			wantLast := p.TimeAt(len(p.Series) - 1).Format(time.RFC3339)
			if a.LastTime != wantLast {
				t.Fatalf("last time %s, want %s", a.LastTime, wantLast)
			}
			checkRoundTrip(t, p, a)
		})
	}
}

// checkRoundTrip stores the artifact as JSON, loads it back and compares predictions.
func checkRoundTrip(t *testing.T, p *preprocess.Processed, a model.Artifact) {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var a2 model.Artifact
	if err := json.Unmarshal(b, &a2); err != nil {
		t.Fatal(err)
	}
	p1, err := NewPredictor(a)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewPredictor(a2)
	if err != nil {
		t.Fatal(err)
	}
	x1, err := p1.PredictLatest(3)
	if err != nil {
		t.Fatal(err)
	}
	x2, _ := p2.PredictLatest(3)
	for s := range x1 {
		if !x1[s].Time.Equal(x2[s].Time) {
			t.Fatalf("step %d time differs", s)
		}
		for k, v := range x1[s].Values {
			if v != x2[s].Values[k] {
				t.Fatalf("step %d %s: %g != %g after round trip", s, k, v, x2[s].Values[k])
			}
		}
	}
	if want := p.TimeAt(len(p.Series) - 1).Add(2 * time.Minute); !x1[0].Time.Equal(want) {
		t.Fatalf("first forecast at %v, want %v", x1[0].Time, want)
	}
	// PredictFrom on the raw last window reproduces PredictLatest.
	n := len(p.Series)
	times := make([]time.Time, 10)
	kpis := map[string][]float64{}
	for i := range 10 {
		times[i] = p.TimeAt(n - 10 + i)
		for k, name := range dataset.KPIs() {
			kpis[name] = append(kpis[name], p.Scaler.Unscale(k, p.Series[n-10+i][k]))
		}
	}
	x3, err := p1.PredictFrom(times, kpis, 3)
	if err != nil {
		t.Fatal(err)
	}
	for s := range x1 {
		for k, v := range x1[s].Values {
			if math.Abs(v-x3[s].Values[k]) > 1e-6*math.Max(1, math.Abs(v)) {
				t.Fatalf("PredictFrom step %d %s: %g, PredictLatest %g", s, k, x3[s].Values[k], v)
			}
		}
	}
	// The scaled Forecaster agrees too (it recovers the time from the features).
	f, err := Load(a2)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.Predict(a.LastWindow, 3)
	if err != nil {
		t.Fatal(err)
	}
	for s := range sc {
		if got, want := p.Scaler.Unscale(0, sc[s][0]), x1[s].Values["down"]; math.Abs(got-want) > 1e-6*math.Abs(want) {
			t.Fatalf("Forecaster step %d down %g, Predictor %g", s, got, want)
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	p := testData(t)
	cases := []struct {
		in   TrainInput
		want string
	}{
		{TrainInput{ModelType: "ARIMA", Data: p}, `unknown model type "ARIMA"`},
		{TrainInput{ModelType: model.TypeGRU}, "no processed data"},
		{TrainInput{ModelType: model.TypeGRU, Data: p, Params: map[string]string{"epochs": "many"}}, `epochs="many" is not an integer`},
		{TrainInput{ModelType: model.TypeLSTM, Data: p, Params: map[string]string{"hiden": "3"}}, `unknown parameter "hiden"`},
		{TrainInput{ModelType: model.TypeGRU, Data: p, Params: map[string]string{"learning_rate": "-1"}}, "learning_rate must be"},
		{TrainInput{ModelType: model.TypeProphet, Data: p, Params: map[string]string{"daily_order": "99"}}, "daily_order must be"},
	}
	for _, tc := range cases {
		_, err := Train(context.Background(), tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want it to contain %q", tc.in.ModelType, tc.in.Params, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, TrainInput{ModelType: model.TypeGRU, Data: p}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training: %v", err)
	}
}

func trainedGRU(t *testing.T) model.Artifact {
	t.Helper()
	res, err := Train(context.Background(), TrainInput{ModelType: model.TypeGRU, Data: testData(t),
		Params: map[string]string{"hidden": "4", "epochs": "1", "max_train_windows": "200"}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return res.Artifact
}

func TestLoadValidatesArtifact(t *testing.T) {
	good := trainedGRU(t)
	mutate := map[string]func(a *model.Artifact){
		"type":       func(a *model.Artifact) { a.ModelType = "LSTM" },
		"weights":    func(a *model.Artifact) { a.Weights = []byte(`{"cell":"GRU","in":17,"hidden":4,"out":11,"theta":[1]}`) },
		"window":     func(a *model.Artifact) { a.LastWindow = a.LastWindow[:5] },
		"features":   func(a *model.Artifact) { a.Features = a.Features[:16] },
		"scaler":     func(a *model.Artifact) { a.ScalerMax = a.ScalerMax[:3] },
		"last time":  func(a *model.Artifact) { a.LastTime = "yesterday" },
		"not finite": func(a *model.Artifact) { a.LastWindow[0] = append([]float64{math.NaN()}, a.LastWindow[0][1:]...) },
		"unknown":    func(a *model.Artifact) { a.ModelType = "XGB" },
	}
	for name, m := range mutate {
		a := good
		a.LastWindow = append([][]float64(nil), good.LastWindow...)
		m(&a)
		if _, err := NewPredictor(a); err == nil {
			t.Errorf("%s: invalid artifact accepted", name)
		}
	}
	if _, err := NewPredictor(good); err != nil {
		t.Fatal(err)
	}
}

func TestPredictFromValidatesInput(t *testing.T) {
	pr, err := NewPredictor(trainedGRU(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2018, 4, 20, 0, 0, 0, 0, time.UTC)
	mk := func(rows int) ([]time.Time, map[string][]float64) {
		ts := make([]time.Time, rows)
		kp := map[string][]float64{}
		for i := range ts {
			ts[i] = start.Add(time.Duration(i) * 2 * time.Minute)
			for _, name := range dataset.KPIs() {
				kp[name] = append(kp[name], 1)
			}
		}
		return ts, kp
	}
	ts, kp := mk(12)
	if pts, err := pr.PredictFrom(ts, kp, 2); err != nil || len(pts) != 2 || len(pts[1].Values) != 11 {
		t.Fatalf("valid input: %v", err)
	}
	bad := map[string]func() ([]time.Time, map[string][]float64, int){
		"few rows": func() ([]time.Time, map[string][]float64, int) { ts, kp := mk(5); return ts, kp, 1 },
		"missing column": func() ([]time.Time, map[string][]float64, int) {
			ts, kp := mk(12)
			delete(kp, "mcs_up")
			return ts, kp, 1
		},
		"short column": func() ([]time.Time, map[string][]float64, int) {
			ts, kp := mk(12)
			kp["up"] = kp["up"][:3]
			return ts, kp, 1
		},
		"nan": func() ([]time.Time, map[string][]float64, int) {
			ts, kp := mk(12)
			kp["down"][11] = math.NaN()
			return ts, kp, 1
		},
		"unordered": func() ([]time.Time, map[string][]float64, int) { ts, kp := mk(12); ts[3] = ts[2]; return ts, kp, 1 },
	}
	for name, f := range bad {
		ts, kp, steps := f()
		if _, err := pr.PredictFrom(ts, kp, steps); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: error %v does not wrap ErrBadInput", name, err)
		}
	}
	for _, steps := range []int{0, MaxSteps + 1} {
		if _, err := pr.PredictFrom(ts, kp, steps); !errors.Is(err, ErrStepsOutOfRange) {
			t.Errorf("steps %d: error %v", steps, err)
		}
		if _, err := pr.PredictLatest(steps); !errors.Is(err, ErrStepsOutOfRange) {
			t.Errorf("latest steps %d: error %v", steps, err)
		}
	}
}

func TestPredictorConcurrent(t *testing.T) {
	pr, err := NewPredictor(trainedGRU(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pr.PredictLatest(2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := pr.PredictLatest(2)
				if err != nil || got[1].Values["down"] != want[1].Values["down"] {
					errs <- errors.New("concurrent predictions differ")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
