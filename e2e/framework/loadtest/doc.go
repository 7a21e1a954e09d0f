// Package loadtest runs one load level on a cluster: the load generator
// (images/loadgen) as an Indexed Job whose pods each drive a share of the
// users, then reads every pod's FLTS_LOADGEN_RESULT log line and merges the
// summaries exactly. It replaces the original's Locust master and workers.
package loadtest
