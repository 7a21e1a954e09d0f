package model

import "time"

// Stepper is what the model packages (rnn, prophet, persistence)
// implement: one step ahead. pkg/forecast builds recursive multi-step
// forecasting and the Forecaster of an Artifact on top of it, because
// only it knows the scaler needed to build the next row's time features.
type Stepper interface {
	// PredictStep writes into dst (len = targets) the scaled targets of
	// the row at time next, following window (rows x features, scaled),
	// whose last row is at time last. Safe for concurrent use.
	PredictStep(window [][]float64, last, next time.Time, dst []float64) error
}
