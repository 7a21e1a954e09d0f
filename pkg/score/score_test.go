package score

import (
	"math"
	"testing"
)

func TestAccumulator(t *testing.T) {
	a := NewAccumulator(2)
	_ = a.Add([]float64{1, 0}, []float64{0, 0})
	_ = a.Add([]float64{3, 2}, []float64{0, 0})
	cols := a.PerColumn()
	// Column 0: errors 1 and 3 -> mse 5, mae 2. Column 1: errors 0 and 2 -> mse 2, mae 1.
	if cols[0].MSE != 5 || cols[0].MAE != 2 || cols[0].RMSE != math.Sqrt(5) {
		t.Fatalf("column 0: %+v", cols[0])
	}
	if cols[1].MSE != 2 || cols[1].MAE != 1 {
		t.Fatalf("column 1: %+v", cols[1])
	}
	m := a.Mean()
	if m.MSE != 3.5 || m.MAE != 1.5 || m.RMSE != (math.Sqrt(5)+math.Sqrt(2))/2 {
		t.Fatalf("mean: %+v", m)
	}
	if got, want := Score(m), 0.5*m.RMSE+0.3*1.5+0.2*3.5; math.Abs(got-want) > 1e-12 {
		t.Fatalf("score %g, want %g", got, want)
	}
	if err := a.Add([]float64{1}, []float64{1, 2}); err == nil {
		t.Fatal("mismatched row accepted")
	}
	if a.Count() != 2 {
		t.Fatalf("count %d", a.Count())
	}
}
