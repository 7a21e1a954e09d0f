package rnn

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// loss is the squared error of one sample, matching dy = 2(y - t).
func loss(m *Model, x [][]float64, target []float64) float64 {
	ws := m.newWorkspace(len(x))
	m.forward(x, ws)
	s := 0.0
	for o, v := range ws.y {
		s += (v - target[o]) * (v - target[o])
	}
	return s
}

func TestGradientCheck(t *testing.T) {
	for _, cell := range []Cell{GRU, LSTM} {
		t.Run(string(cell), func(t *testing.T) {
			m, err := New(cell, 4, 5, 3, 7)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			// Larger random weights than the initialiser, so every path (output
			// layer included) carries a gradient worth checking.
			for i := range m.Theta {
				m.Theta[i] = rng.NormFloat64() * 0.5
			}
			x := make([][]float64, 6)
			for i := range x {
				x[i] = []float64{rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()}
			}
			target := []float64{0.3, -0.2, 0.8}
			ws := m.newWorkspace(len(x))
			m.forward(x, ws)
			for o := range ws.dy {
				ws.dy[o] = 2 * (ws.y[o] - target[o])
			}
			grad := make([]float64, len(m.Theta))
			m.backward(x, ws, grad)
			const h = 1e-6
			worst := 0.0
			for i := range m.Theta {
				orig := m.Theta[i]
				m.Theta[i] = orig + h
				lp := loss(m, x, target)
				m.Theta[i] = orig - h
				lm := loss(m, x, target)
				m.Theta[i] = orig
				num := (lp - lm) / (2 * h)
				rel := math.Abs(num-grad[i]) / math.Max(1e-7, math.Abs(num)+math.Abs(grad[i]))
				if rel > worst {
					worst = rel
				}
				if rel > 1e-4 {
					t.Errorf("param %d: analytic %g, numeric %g (rel %g)", i, grad[i], num, rel)
				}
			}
			t.Logf("%s: %d parameters, worst relative error %.2g", cell, len(m.Theta), worst)
		})
	}
}

// sineData is a noisy daily-like sine: x rows are (value, sin t, cos t),
// the target is the next value. Seasonality makes it predictable beyond
// the last value.
type sineData struct{ rows [][]float64 }

func newSineData(n int, seed uint64) sineData {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]float64, n)
	for i := range rows {
		a := 2 * math.Pi * float64(i) / 50
		rows[i] = []float64{0.5 + 0.3*math.Sin(a) + 0.05*rng.NormFloat64(), math.Sin(a), math.Cos(a)}
	}
	return sineData{rows}
}
func (d sineData) Len() int { return len(d.rows) - 10 }
func (d sineData) Window(i int) ([][]float64, []float64) {
	return d.rows[i : i+10], d.rows[i+10][:1]
}

func TestTrainBeatsPersistenceAndIsDeterministic(t *testing.T) {
	for _, cell := range []Cell{GRU, LSTM} {
		t.Run(string(cell), func(t *testing.T) {
			train, test := newSineData(1500, 1), newSineData(400, 2)
			p := DefaultParams()
			p.Hidden, p.Epochs, p.MaxTrainWindows, p.LearningRate = 8, 8, 0, 0.01
			epochs := 0
			m, rep, err := Train(context.Background(), cell, train, p, func(int, float64, float64) { epochs++ })
			if err != nil {
				t.Fatal(err)
			}
			if epochs != rep.Epochs || rep.BestEpoch < 1 {
				t.Fatalf("progress called %d times, report %+v", epochs, rep)
			}
			var mse, pmse float64
			out := make([]float64, 1)
			for i := range test.Len() {
				x, y := test.Window(i)
				if err := m.predict(x, out); err != nil {
					t.Fatal(err)
				}
				mse += (out[0] - y[0]) * (out[0] - y[0])
				pmse += (x[len(x)-1][0] - y[0]) * (x[len(x)-1][0] - y[0])
			}
			t.Logf("%s test mse %.5f, persistence %.5f, %+v", cell, mse/float64(test.Len()), pmse/float64(test.Len()), rep)
			if mse >= 0.8*pmse {
				t.Fatalf("%s mse %g does not beat persistence %g by 20%%", cell, mse, pmse)
			}
			m2, _, err := Train(context.Background(), cell, train, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range m.Theta {
				if m.Theta[i] != m2.Theta[i] {
					t.Fatal("training is not deterministic for a fixed seed")
				}
			}
		})
	}
}

func TestTrainHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Train(ctx, GRU, newSineData(200, 1), DefaultParams(), nil); err == nil {
		t.Fatal("cancelled training returned no error")
	}
}

func TestUnmarshalValidates(t *testing.T) {
	m, _ := New(GRU, 3, 4, 1, 1)
	b, _ := json.Marshal(m)
	m2, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	x := newSineData(20, 1).rows[:10]
	a, c := make([]float64, 1), make([]float64, 1)
	_ = m.predict(x, a)
	_ = m2.predict(x, c)
	if a[0] != c[0] {
		t.Fatalf("round trip changed the prediction: %g != %g", a[0], c[0])
	}
	bad := []string{
		`{"cell":"RNN","in":3,"hidden":4,"out":1,"theta":[]}`,
		`{"cell":"GRU","in":3,"hidden":4,"out":1,"theta":[1,2]}`,
		`{"cell":"GRU","in":3,"hidden":0,"out":1,"theta":[]}`,
		`{"cell":"GRU","in":1,"hidden":4,"out":3,"theta":[]}`,
	}
	for _, s := range bad {
		if _, err := Unmarshal([]byte(s)); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
	if err := m2.predict(x[:3], make([]float64, 2)); err == nil {
		t.Error("wrong output size accepted")
	}
	if err := m2.predict([][]float64{{1, 2}}, a); err == nil {
		t.Error("short row accepted")
	}
}
