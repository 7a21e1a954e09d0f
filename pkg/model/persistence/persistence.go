// Package persistence is the last-value baseline: the forecast of every
// target is its value in the last row of the window.
package persistence

import (
	"fmt"
	"time"
)

// Model repeats the last observed targets.
type Model struct {
	Targets int // the first Targets features of a row are the targets
}

// PredictStep implements model.Stepper.
func (m Model) PredictStep(window [][]float64, _, _ time.Time, dst []float64) error {
	if len(window) == 0 {
		return fmt.Errorf("failed to predict: empty window")
	}
	last := window[len(window)-1]
	if len(last) < m.Targets || len(dst) != m.Targets {
		return fmt.Errorf("failed to predict: window row has %d values, output %d, want %d targets", len(last), len(dst), m.Targets)
	}
	copy(dst, last[:m.Targets])
	return nil
}
