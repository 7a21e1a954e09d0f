package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeLayouts are the timestamp formats ReadCSV accepts, most specific first.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
}

// ParseTime parses a timestamp in one of the accepted layouts; a time
// without a zone is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (want RFC 3339 or \"YYYY-MM-DD hh:mm:ss\")", s)
}

// ReadCSV reads a KPI CSV file. The header is required and must name the
// time column and all 11 KPIs (any order; other columns are ignored).
// Empty cells and NaN/null mark missing values. Rows must be in strictly
// increasing time order. Errors name the line and column.
func ReadCSV(r io.Reader) (Frame, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Frame{}, fmt.Errorf("failed to read CSV: empty input, a header line is required")
	}
	if err != nil {
		return Frame{}, fmt.Errorf("failed to read CSV header: %w", err)
	}
	nfields := len(header)
	timeCol := -1
	kpiCol := make([]int, NumKPIs)
	for i := range kpiCol {
		kpiCol[i] = -1
	}
	for i, h := range header {
		name := strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if name == TimeColumn {
			timeCol = i
			continue
		}
		if k := KPIIndex(name); k >= 0 {
			if kpiCol[k] >= 0 {
				return Frame{}, fmt.Errorf("failed to read CSV: line 1: column %q appears twice", name)
			}
			kpiCol[k] = i
		}
	}
	var missing []string
	if timeCol < 0 {
		missing = append(missing, TimeColumn)
	}
	for k, c := range kpiCol {
		if c < 0 {
			missing = append(missing, kpiNames[k])
		}
	}
	if len(missing) > 0 {
		return Frame{}, fmt.Errorf("failed to read CSV: line 1: header lacks column(s) %s", strings.Join(missing, ", "))
	}
	f := Frame{Columns: KPIs()}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return Frame{}, fmt.Errorf("failed to read CSV: %w", err)
		}
		if len(rec) != nfields {
			return Frame{}, fmt.Errorf("failed to read CSV: line %d has %d fields, the header has %d", line, len(rec), nfields)
		}
		t, err := ParseTime(rec[timeCol])
		if err != nil {
			return Frame{}, fmt.Errorf("failed to read CSV: line %d, column %q: %w", line, TimeColumn, err)
		}
		if n := len(f.Times); n > 0 && !t.After(f.Times[n-1]) {
			return Frame{}, fmt.Errorf("failed to read CSV: line %d, column %q: %s is not after the previous row's %s",
				line, TimeColumn, t.Format(time.RFC3339), f.Times[n-1].Format(time.RFC3339))
		}
		row := make([]float64, NumKPIs)
		for k, c := range kpiCol {
			v, err := parseValue(rec[c])
			if err != nil {
				return Frame{}, fmt.Errorf("failed to read CSV: line %d, column %q: %w", line, kpiNames[k], err)
			}
			row[k] = v
		}
		f.Times = append(f.Times, t)
		f.Values = append(f.Values, row)
	}
	if len(f.Times) == 0 {
		return Frame{}, fmt.Errorf("failed to read CSV: no data rows after the header")
	}
	return f, nil
}

// parseValue parses one KPI cell; empty, NaN and null cells are missing.
func parseValue(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "nan", "null", "na", "none":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// WriteCSV writes the frame with a header; timestamps are RFC 3339 (UTC)
// and missing values are empty cells.
func WriteCSV(w io.Writer, f Frame) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("failed to write CSV: %w", err)
	}
	cw := csv.NewWriter(w)
	rec := make([]string, 1+NumKPIs)
	rec[0] = TimeColumn
	copy(rec[1:], f.Columns)
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("failed to write CSV header: %w", err)
	}
	for i, t := range f.Times {
		rec[0] = t.UTC().Format(time.RFC3339Nano)
		for k, v := range f.Values[i] {
			if math.IsNaN(v) {
				rec[1+k] = ""
			} else {
				rec[1+k] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("failed to write CSV row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("failed to write CSV: %w", err)
	}
	return nil
}
