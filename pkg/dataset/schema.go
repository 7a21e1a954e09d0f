package dataset

import (
	"fmt"
	"math"
	"time"
)

// TimeColumn is the name of the timestamp column in CSV files.
const TimeColumn = "time"

// NumKPIs is the number of KPI columns in the schema.
const NumKPIs = 11

// DefaultStep is the sampling period of the data.
const DefaultStep = 2 * time.Minute

// kpiNames is an array (a value, not a shared slice) so nobody can change
// the schema at run time; KPIs hands out copies.
var kpiNames = [NumKPIs]string{
	"down", "up", "rnti_count",
	"mcs_down", "mcs_down_var", "mcs_up", "mcs_up_var",
	"rb_down", "rb_down_var", "rb_up", "rb_up_var",
}

// KPIs returns the 11 KPI column names in canonical order.
func KPIs() []string {
	out := make([]string, NumKPIs)
	copy(out, kpiNames[:])
	return out
}

// KPIIndex returns the canonical position of a KPI name, or -1.
func KPIIndex(name string) int {
	for i, n := range kpiNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Frame is a raw KPI table. Values is row-major (len(Times) rows of
// len(Columns) values); NaN marks a missing value.
type Frame struct {
	Times   []time.Time
	Columns []string
	Values  [][]float64
}

// Validate checks that the frame is rectangular, holds the canonical KPI
// columns in order and has strictly increasing timestamps.
func (f Frame) Validate() error {
	if len(f.Columns) != NumKPIs {
		return fmt.Errorf("frame has %d columns, want %d", len(f.Columns), NumKPIs)
	}
	for i, c := range f.Columns {
		if c != kpiNames[i] {
			return fmt.Errorf("frame column %d is %q, want %q", i, c, kpiNames[i])
		}
	}
	if len(f.Values) != len(f.Times) {
		return fmt.Errorf("frame has %d rows of values for %d timestamps", len(f.Values), len(f.Times))
	}
	for i, row := range f.Values {
		if len(row) != NumKPIs {
			return fmt.Errorf("frame row %d has %d values, want %d", i, len(row), NumKPIs)
		}
		for j, v := range row {
			if math.IsInf(v, 0) {
				return fmt.Errorf("frame row %d column %q is infinite", i, f.Columns[j])
			}
		}
		if i > 0 && !f.Times[i].After(f.Times[i-1]) {
			return fmt.Errorf("frame row %d time %s is not after the previous row's %s",
				i, f.Times[i].Format(time.RFC3339), f.Times[i-1].Format(time.RFC3339))
		}
	}
	return nil
}

// Missing counts the NaN cells of the frame.
func (f Frame) Missing() int {
	n := 0
	for _, row := range f.Values {
		for _, v := range row {
			if math.IsNaN(v) {
				n++
			}
		}
	}
	return n
}
