// Package tracking is a subset of the MLflow tracking REST API 2.0 (server,
// Go client and a read-only HTML page) that keeps everything in an
// objstore.Store, in the style of MLflow's file store:
//
//	mlflow/experiments/<experiment_id>.json      experiment record
//	mlflow/<experiment_id>/<run_id>/meta.json    run record (info + data)
//	mlflow/run-index/<run_id>                    experiment id of the run
//	mlflow/<experiment_id>/<run_id>/artifacts/…  artifacts (written by clients directly)
//
// The server serialises writes per run in memory, so it must run as a single
// replica; it keeps no other state, so it can restart at any time.
package tracking
