package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// predictRequest is the body of POST /predict.
type predictRequest struct {
	InferenceLength *int                         `json:"inference_length"`
	Data            map[string][]json.RawMessage `json:"data"`
	IndexCol        string                       `json:"index_col"`
}

// parsedPredict is a validated request.
type parsedPredict struct {
	steps int
	times []time.Time          // nil when the request has no data
	kpis  map[string][]float64 // nil when the request has no data
}

// apiError carries the status code of a request error the server found itself.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

func unprocessable(format string, a ...any) error {
	return &apiError{code: http.StatusUnprocessableEntity, msg: fmt.Sprintf(format, a...)}
}

const (
	defaultIndexCol = "ts"
	datasetTimeCol  = "time"
)

// parsePredict reads and validates a /predict request against targets.
func parsePredict(r *http.Request, maxBody int64, maxSteps int, targets []string) (parsedPredict, error) {
	var out parsedPredict
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return out, &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body exceeds %d bytes", maxBody)}
		}
		return out, badRequest("failed to read request body: %v", err)
	}
	var req predictRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return out, badRequest("invalid JSON body: %v", err)
		}
		if dec.More() {
			return out, badRequest("invalid JSON body: trailing data after the object")
		}
	}

	out.steps = 1
	if req.InferenceLength != nil {
		out.steps = *req.InferenceLength
	}
	if q := r.URL.Query().Get("inference_length"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			return out, unprocessable("inference_length %q is not an integer in 1..%d", q, maxSteps)
		}
		out.steps = n
	}
	if out.steps < 1 || out.steps > maxSteps {
		return out, unprocessable("inference_length %d is out of range 1..%d", out.steps, maxSteps)
	}

	if req.Data == nil {
		return out, nil
	}
	indexCol := req.IndexCol
	if indexCol == "" {
		indexCol = defaultIndexCol
		// Rows copied from the dataset name their timestamp column "time".
		if _, ok := req.Data[indexCol]; !ok {
			if _, ok := req.Data[datasetTimeCol]; ok {
				indexCol = datasetTimeCol
			}
		}
	}
	rawTimes, ok := req.Data[indexCol]
	if !ok {
		return out, badRequest("data has no timestamp column %q", indexCol)
	}
	if len(rawTimes) == 0 {
		return out, badRequest("data has no rows")
	}
	out.times = make([]time.Time, len(rawTimes))
	for i, raw := range rawTimes {
		t, err := parseTime(raw)
		if err != nil {
			return out, badRequest("timestamp column %q row %d: %v", indexCol, i, err)
		}
		out.times[i] = t
	}
	out.kpis = make(map[string][]float64, len(targets))
	for _, col := range targets {
		raw, ok := req.Data[col]
		if !ok {
			return out, badRequest("data is missing column %q", col)
		}
		if len(raw) != len(rawTimes) {
			return out, badRequest("column %q has %d rows, timestamp column has %d", col, len(raw), len(rawTimes))
		}
		vals := make([]float64, len(raw))
		for i, v := range raw {
			f, err := parseNumber(v)
			if err != nil {
				return out, badRequest("column %q row %d: %v", col, i, err)
			}
			vals[i] = f
		}
		out.kpis[col] = vals
	}
	// Extra columns (time features, other KPIs) are ignored on purpose:
	// clients may send whole rows of the dataset.
	return out, nil
}

func parseNumber(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, fmt.Errorf("value %s is not a number", truncate(raw))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("value %s is not finite", truncate(raw))
	}
	return f, nil
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"}

// parseTime accepts an RFC 3339 (or "YYYY-MM-DD hh:mm:ss", UTC) string, or
// a number of Unix seconds.
func parseTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil && !math.IsNaN(secs) && !math.IsInf(secs, 0) {
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %s is neither a string nor Unix seconds", truncate(raw))
}

func truncate(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}
