// Package forecast is the single entry point the apps use: Train a model
// of a given type on a preprocessed data version and score it on the
// held-out test split against persistence; Load a stored model.Artifact
// back into a model.Forecaster; and serve forecasts in original units
// with a Predictor.
//
// Multi-step forecasts are recursive: each predicted row (the predicted
// KPIs plus the time features of its timestamp) is appended to the window
// for the next step. Recursion assumes horizon 1, which Train enforces.
package forecast
