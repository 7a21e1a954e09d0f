// Package report keeps the measured data of load levels and HPA runs as
// JSON files in an artifacts directory and regenerates
// K8S_LOAD_TEST_REPORT.md (with PNG plots) from all the data files present,
// so areas that run separately each add their section. Every number in the
// report comes from those files; the only constants are the original's
// recorded figures, labelled as such.
package report
