package inference

import (
	"fmt"
	"time"
)

var testTargets = []string{"down", "up", "rnti_count", "mcs_down", "mcs_down_var", "mcs_up", "mcs_up_var", "rb_down", "rb_down_var", "rb_up", "rb_up_var"}

// fakePredictor forecasts constant values; when block is set each call
// announces itself on started and waits for block to close; when panicWith
// is set each call panics with it.
type fakePredictor struct {
	runID     string
	value     float64
	started   chan struct{}
	block     chan struct{}
	panicWith any
}

func (f *fakePredictor) RunID() string     { return f.runID }
func (f *fakePredictor) ModelType() string { return "GRU" }
func (f *fakePredictor) Targets() []string { return testTargets }

func (f *fakePredictor) PredictLatest(steps int) ([]Point, error) {
	return f.predict(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), steps)
}

func (f *fakePredictor) PredictFrom(times []time.Time, kpis map[string][]float64, steps int) ([]Point, error) {
	if len(times) < 2 {
		return nil, fmt.Errorf("need at least 2 rows, got %d: %w", len(times), ErrBadInput)
	}
	return f.predict(times[len(times)-1], steps)
}

func (f *fakePredictor) predict(last time.Time, steps int) ([]Point, error) {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	out := make([]Point, steps)
	for i := range out {
		vals := make(map[string]float64, len(testTargets))
		for _, t := range testTargets {
			vals[t] = f.value
		}
		out[i] = Point{Time: last.Add(time.Duration(i+1) * 2 * time.Minute), Values: vals}
	}
	return out, nil
}
