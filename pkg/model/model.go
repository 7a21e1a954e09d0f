// Package model defines what every forecasting model offers, and the
// self-contained artifact a trained model is stored as.
package model

import "encoding/json"

// Model types, as tagged in tracking and named in events ("Trained: GRU").
const (
	TypeGRU     = "GRU"
	TypeLSTM    = "LSTM"
	TypeProphet = "PROPHET"
)

// Types lists every model type eval waits for.
var Types = []string{TypeGRU, TypeLSTM, TypeProphet}

// Forecaster predicts the next steps of the target KPIs from a window of
// scaled feature rows (window x features). It returns steps x targets
// scaled values. Implementations are safe for concurrent use.
type Forecaster interface {
	Predict(window [][]float64, steps int) ([][]float64, error)
}

// Artifact is a trained model stored as one JSON object: everything
// inference needs, so a pod loads one object and serves.
type Artifact struct {
	ModelType   string             `json:"model_type"`
	RunID       string             `json:"run_id"`
	ConfigHash  string             `json:"config_hash"`
	Targets     []string           `json:"targets"`  // the 11 KPI names
	Features    []string           `json:"features"` // the 17 feature names, targets first
	Window      int                `json:"window"`
	ScalerMin   []float64          `json:"scaler_min"` // per feature
	ScalerMax   []float64          `json:"scaler_max"`
	LastWindow  [][]float64        `json:"last_window"` // scaled, last window of the test split
	LastTime    string             `json:"last_time"`   // RFC3339 time of the last row of LastWindow
	StepSeconds int                `json:"step_seconds"`
	Params      map[string]string  `json:"params"`
	Weights     json.RawMessage    `json:"weights"` // model-specific
	Metrics     map[string]float64 `json:"metrics,omitempty"`
}
