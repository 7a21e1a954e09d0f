// Package tracking is the client side of a subset of the MLflow tracking
// REST API 2.0: the wire types (experiments, runs, metrics, params, tags)
// and the Go client the pipeline uses. The server is package
// tracking/server, which the pipeline images do not link.
package tracking
