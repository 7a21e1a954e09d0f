package prophet

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestCholeskySolves(t *testing.T) {
	a := []float64{4, 2, 2, 3}
	if err := cholesky(a, 2); err != nil {
		t.Fatal(err)
	}
	b := []float64{6, 5} // x = (1, 1)
	cholSolve(a, 2, b)
	if math.Abs(b[0]-1) > 1e-12 || math.Abs(b[1]-1) > 1e-12 {
		t.Fatalf("got %v, want [1 1]", b)
	}
	if err := cholesky([]float64{1, 2, 2, 1}, 2); err == nil {
		t.Fatal("indefinite matrix accepted")
	}
}

func TestFitRecoversSeasonalSignal(t *testing.T) {
	start := time.Date(2018, 3, 28, 0, 0, 0, 0, time.UTC)
	step := 2 * time.Minute
	rng := rand.New(rand.NewPCG(1, 2))
	signal := func(tm time.Time) float64 {
		d := tm.Sub(start).Hours() / 24
		return 0.5 + 0.01*d + 0.2*math.Sin(2*math.Pi*d) + 0.05*math.Cos(2*math.Pi*d/7)
	}
	var times []time.Time
	var y [][]float64
	for i := range 10000 {
		tm := start.Add(time.Duration(i) * step)
		times = append(times, tm)
		y = append(y, []float64{signal(tm) + 0.03*rng.NormFloat64()})
	}
	m, err := Fit(times[:8000], y[:8000], step, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var mse, pmse float64
	out := make([]float64, 1)
	for i := 8000; i < 10000; i++ {
		m.At(times[i], out)
		mse += (out[0] - signal(times[i])) * (out[0] - signal(times[i]))
		if err := m.PredictStep([][]float64{y[i-1]}, times[i-1], times[i], out); err != nil {
			t.Fatal(err)
		}
		pmse += (y[i-1][0] - y[i][0]) * (y[i-1][0] - y[i][0])
	}
	mse /= 2000
	pmse /= 2000
	if mse > 1e-4 {
		t.Fatalf("extrapolated signal mse %g, want < 1e-4", mse)
	}
	if mse > pmse/2 {
		t.Fatalf("mse %g does not beat persistence %g", mse, pmse)
	}
	b, _ := json.Marshal(m)
	m2, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	a, c := make([]float64, 1), make([]float64, 1)
	_ = m.PredictStep([][]float64{{0.4}}, times[9000], times[9001], a)
	_ = m2.PredictStep([][]float64{{0.4}}, times[9000], times[9001], c)
	if a[0] != c[0] {
		t.Fatalf("round trip changed the prediction: %g != %g", a[0], c[0])
	}
	if _, err := Unmarshal([]byte(`{"span_days":1,"step_seconds":120,"coef":[[1]],"phi":[0]}`)); err == nil {
		t.Fatal("coefficient count mismatch accepted")
	}
}
