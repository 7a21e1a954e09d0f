// Package loadgen is the project's replacement for the original's Locust
// users: closed-loop virtual users (send, wait for the answer, think, repeat)
// with a linear ramp-up and a bounded run, and a Summary whose latency
// histogram and per-second timeline merge exactly, so the results of many
// load-generator pods add up to the same numbers one big generator would
// have produced (percentiles are never averaged).
package loadgen
