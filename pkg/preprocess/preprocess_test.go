package preprocess

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
)

func generated(t testing.TB, rows int) dataset.Frame {
	t.Helper()
	f, err := dataset.Generate(dataset.GenerateConfig{Rows: rows, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigHashStable(t *testing.T) {
	a, b := DefaultConfig(), DefaultConfig()
	if a.Hash() != b.Hash() || len(a.Hash()) != 64 {
		t.Fatalf("hash not stable or not hex sha256: %q %q", a.Hash(), b.Hash())
	}
	b.ImputeK = 6
	if a.Hash() == b.Hash() {
		t.Fatal("different configs share a hash")
	}
	// The hash is of the canonical JSON: recompute it independently.
	js, _ := json.Marshal(a)
	if !strings.Contains(string(js), `"train_fraction":0.8`) {
		t.Fatalf("unexpected canonical JSON %s", js)
	}
}

func TestRunShapesAndSplit(t *testing.T) {
	f := generated(t, 3000)
	p, err := Run(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := len(p.Series)
	last := f.Times[len(f.Times)-1]
	if want := int(last.Sub(f.Times[0])/(2*time.Minute)) + 1; n != want {
		t.Fatalf("grid rows %d, want %d", n, want)
	}
	if p.Stats.GapRows != n-len(f.Times) || p.Stats.GapRows == 0 {
		t.Fatalf("gap rows %d, want %d (>0)", p.Stats.GapRows, n-len(f.Times))
	}
	if p.Split != int(0.8*float64(n)) {
		t.Fatalf("split %d", p.Split)
	}
	if got, want := p.NumWindows(Train), p.Split-10; got != want {
		t.Fatalf("train windows %d, want %d", got, want)
	}
	if got, want := p.NumWindows(Test), n-p.Split; got != want {
		t.Fatalf("test windows %d, want %d", got, want)
	}
	// The last train target is the row before the split; the first test target is the split row.
	_, y := p.Window(Train, p.NumWindows(Train)-1)
	if &y[0] != &p.Series[p.Split-1][0] {
		t.Fatal("last train target is not row split-1")
	}
	x, y := p.Window(Test, 0)
	if &y[0] != &p.Series[p.Split][0] || len(x) != 10 || len(x[0]) != NumFeatures || len(y) != dataset.NumKPIs {
		t.Fatal("first test window misaligned")
	}
	count := 0
	for x, y := range p.Windows(Test) {
		if len(x) != 10 || len(y) != 11 {
			t.Fatal("bad window shape")
		}
		count++
	}
	if count != p.NumWindows(Test) {
		t.Fatalf("iterated %d test windows, want %d", count, p.NumWindows(Test))
	}
	for i, row := range p.Series {
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("row %d feature %d not finite after imputation", i, j)
			}
		}
	}
}

func TestScalerFittedOnTrainOnly(t *testing.T) {
	f := generated(t, 3000)
	p, err := Run(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	outside := 0
	for i, row := range p.Series {
		for j, v := range row {
			if i < p.Split && (v < -1e-12 || v > 1+1e-12) {
				t.Fatalf("train row %d feature %d = %g outside [0,1]", i, j, v)
			}
			if i >= p.Split && (v < 0 || v > 1) {
				outside++
			}
		}
	}
	// The generator has a trend and the day-of-year features move on, so a
	// scaler that saw only training rows must put some test values outside [0,1].
	if outside == 0 {
		t.Fatal("no test value outside [0,1]: scaler appears fitted on test data")
	}
}

func TestImputationFillsWithTypicalValues(t *testing.T) {
	f := generated(t, 2000)
	// Blank one known cell and a whole row, then check the imputed values
	// are close to the truth (the signal is seasonal, neighbours are similar).
	truth := f.Values[500][0]
	f.Values[500][0] = math.NaN()
	rowTruth := append([]float64(nil), f.Values[700]...)
	for j := range f.Values[700] {
		f.Values[700][j] = math.NaN()
	}
	p, err := Run(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats.ImputedCells < 12 {
		t.Fatalf("imputed %d cells, want >= 12", p.Stats.ImputedCells)
	}
	slot := func(i int) int { return int(f.Times[i].Sub(f.Times[0]) / (2 * time.Minute)) }
	got := p.Scaler.Unscale(0, p.Series[slot(500)][0])
	if math.Abs(got-truth)/truth > 0.3 {
		t.Errorf("imputed down %g, truth %g", got, truth)
	}
	for _, j := range []int{0, 2, 7} {
		got := p.Scaler.Unscale(j, p.Series[slot(700)][j])
		if math.Abs(got-rowTruth[j])/rowTruth[j] > 0.5 {
			t.Errorf("whole-row imputation of KPI %d: %g, truth %g", j, got, rowTruth[j])
		}
	}
}

func TestImputeKNNExact(t *testing.T) {
	nan := math.NaN()
	rows := [][]float64{
		{1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{2, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{9, 90, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{2.1, nan, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	tf := make([][NumTimeFeatures]float64, len(rows))
	n, err := imputeKNN(rows, tf, 3, 2)
	if err != nil || n != 1 {
		t.Fatalf("filled %d, err %v", n, err)
	}
	// Nearest two by column 0 are rows 1 and 0: mean of 20 and 10.
	if rows[3][1] != 15 {
		t.Fatalf("imputed %g, want 15", rows[3][1])
	}
}

func TestProcessedJSONRoundTrip(t *testing.T) {
	p, err := Run(generated(t, 1500), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if q.Split != p.Split || len(q.Series) != len(p.Series) || !q.Start.Equal(p.Start) || q.ConfigHash != p.ConfigHash {
		t.Fatal("round trip changed metadata")
	}
	for i := range p.Series {
		for j := range p.Series[i] {
			if p.Series[i][j] != q.Series[i][j] {
				t.Fatalf("series[%d][%d] %v != %v", i, j, q.Series[i][j], p.Series[i][j])
			}
		}
	}
	// Parts round trip too.
	var tr, te, me bytes.Buffer
	if err := p.WriteParts(&tr, &te, &me); err != nil {
		t.Fatal(err)
	}
	r, err := ReadParts(&tr, &te, &me)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Series) != len(p.Series) || r.Series[p.Split][3] != p.Series[p.Split][3] {
		t.Fatal("parts round trip changed the series")
	}
}

func TestProcessedDecodeValidates(t *testing.T) {
	p, _ := Run(generated(t, 1500), DefaultConfig())
	var buf bytes.Buffer
	_ = p.Encode(&buf)
	good := buf.String()
	cases := map[string]string{
		"hash":  strings.Replace(good, p.ConfigHash, strings.Repeat("0", 64), 1),
		"split": strings.Replace(good, `"split":`+itoa(p.Split), `"split":999999`, 1),
		"row":   strings.Replace(good, `"series":[[`, `"series":[[1,`, 1),
	}
	for name, in := range cases {
		if in == good {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("%s: expected a validation error", name)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestFeatureRowsMatchSeriesAndDecodeTime(t *testing.T) {
	f := generated(t, 1500)
	p, err := Run(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	i := 100 // row 100 of the frame, no gap before it is assumed: use its slot
	slot := int(f.Times[i].Sub(f.Times[0]) / (2 * time.Minute))
	raw := make([]float64, dataset.NumKPIs)
	for j := range raw {
		raw[j] = p.Scaler.Unscale(j, p.Series[slot][j])
	}
	rows, err := FeatureRows([]time.Time{f.Times[i]}, [][]float64{raw}, p.Scaler)
	if err != nil {
		t.Fatal(err)
	}
	for j := range rows[0] {
		if math.Abs(rows[0][j]-p.Series[slot][j]) > 1e-9 {
			t.Fatalf("feature %d: %g != %g", j, rows[0][j], p.Series[slot][j])
		}
	}
	got, err := p.Scaler.DecodeTime(p.Series[slot], f.Times[0])
	if err != nil || !got.Equal(f.Times[i]) {
		t.Fatalf("decoded %v, want %v (%v)", got, f.Times[i], err)
	}
	if _, err := FeatureRows([]time.Time{f.Times[i]}, [][]float64{{1, 2}}, p.Scaler); err == nil {
		t.Fatal("short row accepted")
	}
	raw[4] = math.Inf(1)
	if _, err := FeatureRows([]time.Time{f.Times[i]}, [][]float64{raw}, p.Scaler); err == nil {
		t.Fatal("infinite value accepted")
	}
}

func TestDefaultShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("default-size data")
	}
	f := generated(t, dataset.DefaultRows)
	p, err := Run(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("input rows %d, grid rows %d, gaps %d, imputed %d, split %d, shapes %+v",
		p.Stats.InputRows, p.Stats.GridRows, p.Stats.GapRows, p.Stats.ImputedCells, p.Split, p.Shapes())
}
