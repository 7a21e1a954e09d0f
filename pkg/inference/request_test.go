package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// Small limits let the fuzzer and the table reach every branch cheaply.
const (
	testMaxSteps = 60
	testRowLimit = 4
)

var testColumns = []string{"down", "up"}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name, body, query string
		wantCode          int    // 0: accepted
		wantMsg           string // in the error message
		wantSteps         int    // when accepted
		wantRows          int    // when accepted; 0: no data
	}{
		{name: "empty body", body: "", wantSteps: 1},
		{name: "blank body", body: " \n\t", wantSteps: 1},
		{name: "length only", body: `{"inference_length":3}`, wantSteps: 3},
		{name: "query overrides body", body: `{"inference_length":3}`, query: "5", wantSteps: 5},
		{name: "field names fold case", body: `{"Inference_Length":2}`, wantSteps: 2},
		{name: "rows, index_col after data", body: `{"data":{"when":["2024-03-01T00:00:00Z","2024-03-01 00:02:00"],"down":[1,2],"up":[3.5,-4e2]},"index_col":"when"}`, wantSteps: 1, wantRows: 2},
		{name: "dataset time column, Unix seconds", body: `{"data":{"time":[1709251200,1709251320.5],"down":[1,2],"up":[3,4]}}`, wantSteps: 1, wantRows: 2},
		{name: "ts preferred over time", body: `{"data":{"time":["x"],"ts":[0],"down":[1],"up":[2]}}`, wantSteps: 1, wantRows: 1},
		{name: "extra columns ignored, nested too", body: `{"data":{"ts":[0],"down":[1],"up":[2],"extra":[null,[1,{"a":[true]}],"x"]}}`, wantSteps: 1, wantRows: 1},
		{name: "rows at the limit", body: `{"data":{"ts":[0,1,2,3],"down":[0,0,0,0],"up":[0,0,0,0]}}`, wantSteps: 1, wantRows: 4},

		{name: "trailing brace", body: `{"inference_length":1}}`, wantCode: 400, wantMsg: "trailing data"},
		{name: "second value", body: `{} {}`, wantCode: 400, wantMsg: "trailing data"},
		{name: "trailing garbage", body: `{}x`, wantCode: 400, wantMsg: "trailing data"},
		{name: "truncated", body: `{"inference_length":`, wantCode: 400, wantMsg: "unexpected EOF"},
		{name: "not an object", body: `[1]`, wantCode: 400, wantMsg: "request body must be a JSON object"},
		{name: "null body", body: `null`, wantCode: 400, wantMsg: "request body must be a JSON object, not null"},
		{name: "unknown field", body: `{"foo":1}`, wantCode: 400, wantMsg: `unknown field "foo"`},
		{name: "repeated field", body: `{"data":{},"DATA":{}}`, wantCode: 400, wantMsg: `field "data" appears twice`},
		{name: "null length", body: `{"inference_length":null}`, wantCode: 400, wantMsg: `"inference_length" must be an integer, not null`},
		{name: "fractional length", body: `{"inference_length":2.5}`, wantCode: 400, wantMsg: `"inference_length"`},
		{name: "null index_col", body: `{"index_col":null}`, wantCode: 400, wantMsg: `"index_col" must be a string, not null`},
		{name: "null data", body: `{"data":null}`, wantCode: 400, wantMsg: "data must be a JSON object, not null"},
		{name: "column not an array", body: `{"data":{"ts":"x"}}`, wantCode: 400, wantMsg: `column "ts" must be an array`},
		{name: "null KPI value", body: `{"data":{"ts":[0],"down":[null],"up":[1]}}`, wantCode: 400, wantMsg: `column "down" row 0: value is null`},
		{name: "string KPI value", body: `{"data":{"ts":[0],"down":["1"],"up":[1]}}`, wantCode: 400, wantMsg: `column "down" row 0: value "1" is not a number`},
		{name: "nested KPI value", body: `{"data":{"ts":[0],"down":[[1]],"up":[1]}}`, wantCode: 400, wantMsg: `column "down" row 0: value is an array`},
		{name: "overflowing KPI value", body: `{"data":{"ts":[0],"down":[1],"up":[1e400]}}`, wantCode: 400, wantMsg: `column "up" row 0: value 1e400 is not a finite float64`},
		{name: "null timestamp", body: `{"data":{"ts":[null],"down":[1],"up":[1]}}`, wantCode: 400, wantMsg: `timestamp column "ts" row 0: timestamp is null`},
		{name: "timestamp out of range", body: `{"data":{"ts":[1e300],"down":[1],"up":[1]}}`, wantCode: 400, wantMsg: "out of range for Unix seconds"},
		{name: "repeated column", body: `{"data":{"ts":[0],"down":[1],"down":[1],"up":[1]}}`, wantCode: 400, wantMsg: `column "down" appears twice`},
		{name: "missing column", body: `{"data":{"ts":[0],"down":[1]}}`, wantCode: 400, wantMsg: `data is missing column "up"`},
		{name: "ragged column", body: `{"data":{"ts":[0,1],"down":[1],"up":[1,2]}}`, wantCode: 400, wantMsg: `column "down" has 1 rows, timestamp column has 2`},
		{name: "no rows", body: `{"data":{"ts":[],"down":[],"up":[]}}`, wantCode: 400, wantMsg: "data has no rows"},
		{name: "too deep", body: `{"data":{"x":[` + strings.Repeat("[", maxSkipDepth+1) + strings.Repeat("]", maxSkipDepth+1) + `]}}`, wantCode: 400, wantMsg: "nested deeper than"},
		{name: "too many rows", body: `{"data":{"ts":[0,1,2,3,4],"down":[0,0,0,0,0],"up":[0,0,0,0,0]}}`, wantCode: 413, wantMsg: `column "ts" has more than 4 rows`},
		{name: "too many rows in an ignored column", body: `{"data":{"x":[0,0,0,0,0]}}`, wantCode: 413, wantMsg: "more than 4 rows"},
		{name: "length out of range", body: `{"inference_length":61}`, wantCode: 422, wantMsg: "out of range 1..60"},
		{name: "query not an integer", body: `{}`, query: "ten", wantCode: 422, wantMsg: `"ten" is not an integer`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseRequest([]byte(c.body), c.query, testMaxSteps, testRowLimit, testColumns)
			if c.wantCode != 0 {
				var ae *apiError
				if !errors.As(err, &ae) || ae.code != c.wantCode || !strings.Contains(ae.msg, c.wantMsg) {
					t.Fatalf("got %v, want %d with %q", err, c.wantCode, c.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got.steps != c.wantSteps || len(got.times) != c.wantRows {
				t.Fatalf("got %d steps, %d rows; want %d, %d", got.steps, len(got.times), c.wantSteps, c.wantRows)
			}
		})
	}
}

// A 1 MiB array of tiny values is refused at the row limit, having
// allocated for a few rows, not for half a million values.
func TestParseRequestStopsAtRowLimit(t *testing.T) {
	body := tinyRowsBody(1 << 20)
	var err error
	allocs := testing.AllocsPerRun(5, func() {
		_, err = parseRequest(body, "", testMaxSteps, maxRows, testTargets)
	})
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != 413 || !strings.Contains(ae.msg, "more than 1000 rows") {
		t.Fatalf("got %v, want 413 naming the limit", err)
	}
	// About 3 allocations per token up to the limit; the old parser made
	// one json.RawMessage per value, over 500,000.
	if allocs > 20*maxRows {
		t.Fatalf("%.0f allocations to refuse the body, want at most %d", allocs, 20*maxRows)
	}
}

// tinyRowsBody is a body of size bytes: one timestamp column of zeros.
func tinyRowsBody(size int) []byte {
	const head, tail = `{"data":{"ts":[0`, `]}}`
	n := (size - len(head) - len(tail)) / 2
	return []byte(head + strings.Repeat(",0", n) + tail)
}

// oldRequest is how encoding/json decoded the body before the strict
// parser; anything the parser accepts must decode to the same.
type oldRequest struct {
	InferenceLength *int                         `json:"inference_length"`
	Data            map[string][]json.RawMessage `json:"data"`
	IndexCol        string                       `json:"index_col"`
}

// FuzzParseRequest checks the parser's invariants: it never panics; it
// answers a 4xx apiError, or a request within the limits, with finite
// values, from a body that encoding/json reads the same way.
//
//	nice -n 19 go test -run '^$' -fuzz FuzzParseRequest -fuzztime 60s ./pkg/inference/
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"inference_length":2}`), "")
	f.Fuzz(func(t *testing.T, body []byte, lengthParam string) {
		got, err := parseRequest(body, lengthParam, testMaxSteps, testRowLimit, testColumns)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.code < 400 || ae.code > 499 || ae.msg == "" {
				t.Fatalf("error %#v is not a 4xx apiError", err)
			}
			return
		}
		if got.steps < 1 || got.steps > testMaxSteps {
			t.Fatalf("accepted %d steps", got.steps)
		}
		if (got.times == nil) != (got.kpis == nil) {
			t.Fatalf("times and kpis disagree: %v, %v", got.times, got.kpis)
		}
		if got.times != nil {
			if len(got.times) < 1 || len(got.times) > testRowLimit {
				t.Fatalf("accepted %d rows", len(got.times))
			}
			for _, ts := range got.times {
				if ts.Year() < 0 || ts.Year() > 9999 {
					t.Fatalf("accepted timestamp %v", ts)
				}
			}
			for _, col := range testColumns {
				vals := got.kpis[col]
				if len(vals) != len(got.times) {
					t.Fatalf("column %q has %d rows for %d timestamps", col, len(vals), len(got.times))
				}
				for _, v := range vals {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("column %q holds %v", col, v)
					}
				}
			}
		}

		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		// Strictness only removes: encoding/json must read the same request.
		var old oldRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&old); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		if lengthParam == "" && old.InferenceLength != nil && *old.InferenceLength != got.steps {
			t.Fatalf("steps %d, encoding/json read %d", got.steps, *old.InferenceLength)
		}
		if (old.Data == nil) != (got.kpis == nil) {
			t.Fatalf("data presence differs from encoding/json")
		}
		for _, col := range testColumns {
			for i, v := range got.kpis[col] {
				var want float64
				if err := json.Unmarshal(old.Data[col][i], &want); err != nil || want != v {
					t.Fatalf("column %q row %d: %v, encoding/json read %s", col, i, v, old.Data[col][i])
				}
			}
		}
	})
}

func TestParseRequestStopsAtColumnLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"data":{`)
	for i := range maxColumns + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"extra%d":[1]`, i)
	}
	b.WriteString(`}}`)
	_, err := parseRequest([]byte(b.String()), "", testMaxSteps, testRowLimit, testColumns)
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != http.StatusRequestEntityTooLarge || !strings.Contains(ae.msg, "more than 64 columns") {
		t.Fatalf("got %v, want 413 naming the column limit", err)
	}
}
