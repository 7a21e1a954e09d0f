// Package dataset holds the KPI schema of the LTE PDCCH cell-traffic data,
// a deterministic synthetic generator for it, and a CSV reader/writer.
//
// A Frame is the raw, unprocessed table: timestamps (possibly with gaps)
// and the 11 KPI columns, with NaN marking a missing value.
package dataset
