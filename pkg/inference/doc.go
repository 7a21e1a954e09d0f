// Package inference is the forecasting HTTP API: /healthz, /ready and
// /predict on one listener, Prometheus metrics on another. Predictions run
// under a bounded concurrency limiter (in-flight slots plus a bounded wait
// queue) that fails fast when full; probes bypass it. The served model is
// held in an atomic pointer and swapped without failing requests when a
// new promotion appears in the object store.
package inference
