package score

import (
	"fmt"
	"math"
)

// Metrics are forecast errors. Aggregated over KPIs they are the means of
// the per-KPI values (each KPI counts equally, whatever its magnitude).
type Metrics struct {
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	MSE  float64 `json:"mse"`
}

// Score is the promotion score; lower is better.
func Score(m Metrics) float64 { return 0.5*m.RMSE + 0.3*m.MAE + 0.2*m.MSE }

// Accumulator sums errors column by column without keeping predictions.
// It is not safe for concurrent use.
type Accumulator struct {
	n        int
	sse, sae []float64
}

// NewAccumulator returns an accumulator for rows of cols values.
func NewAccumulator(cols int) *Accumulator {
	return &Accumulator{sse: make([]float64, cols), sae: make([]float64, cols)}
}

// Add records one row of predictions against the actual values.
func (a *Accumulator) Add(pred, actual []float64) error {
	if len(pred) != len(a.sse) || len(actual) != len(a.sse) {
		return fmt.Errorf("failed to score: got %d predictions and %d actual values, want %d", len(pred), len(actual), len(a.sse))
	}
	for j := range pred {
		d := pred[j] - actual[j]
		a.sse[j] += d * d
		a.sae[j] += math.Abs(d)
	}
	a.n++
	return nil
}

// Count returns the number of rows added.
func (a *Accumulator) Count() int { return a.n }

// PerColumn returns the metrics of each column (zero before any Add).
func (a *Accumulator) PerColumn() []Metrics {
	out := make([]Metrics, len(a.sse))
	if a.n == 0 {
		return out
	}
	for j := range out {
		mse := a.sse[j] / float64(a.n)
		out[j] = Metrics{RMSE: math.Sqrt(mse), MAE: a.sae[j] / float64(a.n), MSE: mse}
	}
	return out
}

// Mean returns the metrics averaged over the columns.
func (a *Accumulator) Mean() Metrics {
	var m Metrics
	cols := a.PerColumn()
	if len(cols) == 0 {
		return m
	}
	for _, c := range cols {
		m.RMSE += c.RMSE
		m.MAE += c.MAE
		m.MSE += c.MSE
	}
	k := float64(len(cols))
	return Metrics{RMSE: m.RMSE / k, MAE: m.MAE / k, MSE: m.MSE / k}
}
