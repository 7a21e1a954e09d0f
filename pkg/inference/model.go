package inference

import (
	"errors"
	"time"
)

// ErrBadInput marks a prediction request whose data the model cannot use
// (missing columns, too few rows, bad timestamps). The server maps it to 400.
var ErrBadInput = errors.New("bad input")

// ErrNoModel is returned while no model is loaded. The server maps it to 503.
var ErrNoModel = errors.New("no model loaded")

// Point is one forecast step: its time and a value per KPI.
type Point struct {
	Time   time.Time
	Values map[string]float64
}

// Predictor is a loaded model, safe for concurrent use.
type Predictor interface {
	RunID() string
	ModelType() string
	// Targets lists the KPI columns the model forecasts and needs as input.
	Targets() []string
	// PredictLatest forecasts steps from the window cached in the artifact.
	PredictLatest(steps int) ([]Point, error)
	// PredictFrom forecasts steps after the given rows (oldest first).
	PredictFrom(times []time.Time, kpis map[string][]float64, steps int) ([]Point, error)
}

// Loader builds a Predictor from a stored model artifact (model.json).
type Loader func(artifact []byte) (Predictor, error)
