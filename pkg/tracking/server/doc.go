// Package server is the tracking server: the MLflow REST API 2.0 subset of
// package tracking, kept in an objstore.Store in the style of MLflow's file
// store, plus a read-only HTML page:
//
//	mlflow/experiments/<experiment_id>.json      experiment record
//	mlflow/<experiment_id>/<run_id>/meta.json    run record (info + data)
//	mlflow/run-index/<run_id>                    experiment id of the run
//	mlflow/<experiment_id>/<run_id>/artifacts/…  artifacts (written by clients directly)
//
// It serialises writes per run in memory, so it must run as a single
// replica; it keeps no other state, so it can restart at any time. Only
// images/tracking and flts-local link it: the pipeline needs the client.
package server
