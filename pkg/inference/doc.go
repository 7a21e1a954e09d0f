// Package inference is the forecasting HTTP API: /healthz, /ready and
// /predict on one listener, Prometheus metrics on another. Predictions run
// under a bounded concurrency limiter (in-flight slots plus a bounded wait
// queue) that fails fast when full; probes bypass it. A prediction takes its
// slot before its body is read, so waiting requests hold no body; the body
// is capped at MaxBodyBytes and each data column at 1000 rows (no model
// reads more), and it is decoded strictly: no nulls, no trailing data. The
// served model is held in an atomic pointer and swapped without failing
// requests when a new promotion appears in the object store.
package inference
