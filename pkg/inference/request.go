package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxRows caps the rows of each column of "data". The model reads only the
// last window of rows, and no artifact has a window above 1000 (the bound
// of preprocess.Config and of forecast's artifact check), so further rows
// are never used; rejecting them keeps a parsed request small whatever the
// shape of its body.
const maxRows = 1000

// maxColumns caps the columns of "data". Whole dataset rows have 12 (the
// time and 11 KPIs), 18 with the time features; columns beyond the model's
// are skipped, and without a cap a 1 MiB body of a hundred thousand tiny
// columns costs a slot almost half a second of parsing (measured by the
// flood test) before the request is refused anyway.
const maxColumns = 64

// maxSkipDepth bounds the nesting of values in ignored columns. They are
// skipped token by token, and the decoder's state grows with the nesting.
const maxSkipDepth = 32

// Unix seconds a timestamp may have: years 1 to 9999, what RFC 3339 (and
// so the response) can represent.
const (
	minUnixSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxUnixSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

// The body of POST /predict: {"inference_length":n,"data":{column:[…]},
// "index_col":"ts"}, every field optional. Field names match case-
// insensitively, as encoding/json matched them into a struct before.
const (
	fieldInferenceLength = "inference_length"
	fieldData            = "data"
	fieldIndexCol        = "index_col"
)

const (
	defaultIndexCol = "ts"
	datasetTimeCol  = "time"
)

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

func tooLarge(format string, a ...any) error {
	return &apiError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf(format, a...)}
}

// parsePredict reads and validates a /predict request against targets. The
// body is read whole (at most maxBody bytes, so its memory is bounded) and
// decoded token by token, so no column longer than maxRows is materialised.
func parsePredict(r *http.Request, maxBody int64, maxSteps int, targets []string) (parsedPredict, error) {
	body, err := readBody(r, maxBody)
	if err != nil {
		return parsedPredict{}, err
	}
	return parseRequest(body, r.URL.Query().Get(fieldInferenceLength), maxSteps, maxRows, targets)
}

// readBody reads at most maxBody bytes of the body.
func readBody(r *http.Request, maxBody int64) ([]byte, error) {
	// One allocation when the length is announced, instead of doubling;
	// ReadFrom grows the buffer unless MinRead bytes are free at the end.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, maxBody)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, maxBody)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge("request body exceeds %d bytes", maxBody)
		}
		return nil, badRequest("failed to read request body: %v", err)
	}
	return buf.Bytes(), nil
}

// parseRequest validates a /predict body; lengthParam is the
// inference_length query parameter, which overrides the body's. Every
// error is an *apiError with a 4xx code.
//
// index_col may follow data in the body, so the body is decoded twice:
// first its fields, skipping data (checking its shape and row counts), then
// data itself, knowing which column holds the timestamps.
func parseRequest(body []byte, lengthParam string, maxSteps, rowLimit int, targets []string) (parsedPredict, error) {
	out := parsedPredict{steps: 1}
	var top topFields
	if len(bytes.TrimSpace(body)) > 0 {
		var hasTS, hasTime bool
		columns := 0
		skipData := func(dec *json.Decoder) error {
			return walkObject(dec, fieldData, func(col string) error {
				if columns++; columns > maxColumns {
					return tooLarge("data has more than %d columns; the model reads %d", maxColumns, len(targets)+1)
				}
				hasTS = hasTS || col == defaultIndexCol
				hasTime = hasTime || col == datasetTimeCol
				return readColumn(dec, col, rowLimit, skipCell)
			})
		}
		var err error
		if top, err = decodeBody(body, skipData); err != nil {
			return out, err
		}
		if top.indexCol == "" {
			top.indexCol = defaultIndexCol
			// Rows copied from the dataset name their timestamp column "time".
			if !hasTS && hasTime {
				top.indexCol = datasetTimeCol
			}
		}
	}

	if top.steps != nil {
		out.steps = *top.steps
	}
	if lengthParam != "" {
		n, err := strconv.Atoi(lengthParam)
		if err != nil {
			return out, unprocessable("inference_length %q is not an integer in 1..%d", truncate(lengthParam), maxSteps)
		}
		out.steps = n
	}
	if out.steps < 1 || out.steps > maxSteps {
		return out, unprocessable("inference_length %d is out of range 1..%d", out.steps, maxSteps)
	}
	if !top.hasData {
		return out, nil
	}

	d := dataParser{indexCol: top.indexCol, targets: targets, rowLimit: rowLimit, kpis: make(map[string][]float64, len(targets))}
	if _, err := decodeBody(body, d.parse); err != nil {
		return out, err
	}
	if err := d.check(); err != nil {
		return out, err
	}
	out.times, out.kpis = d.times, d.kpis
	return out, nil
}

// topFields are the body's fields other than data.
type topFields struct {
	steps    *int
	indexCol string
	hasData  bool
}

// decodeBody decodes the body's top-level object strictly: no unknown,
// repeated or null fields, nothing after the object. data is handed to
// onData, which must consume its value.
func decodeBody(body []byte, onData func(*json.Decoder) error) (topFields, error) {
	var top topFields
	var seenLength, seenIndex bool
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers stay text so that ranges are checked here, not lost to float64.
	dec.UseNumber()
	err := walkObject(dec, "request body", func(key string) error {
		switch {
		case strings.EqualFold(key, fieldInferenceLength):
			if seenLength {
				return badRequest("invalid JSON body: field %q appears twice", fieldInferenceLength)
			}
			seenLength = true
			tok, err := next(dec)
			if err != nil {
				return err
			}
			num, ok := tok.(json.Number)
			if !ok {
				return badRequest("field %q must be an integer, not %s", fieldInferenceLength, describe(tok))
			}
			n, err := strconv.Atoi(string(num))
			if err != nil {
				return badRequest("field %q: %s is not an integer", fieldInferenceLength, truncate(string(num)))
			}
			top.steps = &n
		case strings.EqualFold(key, fieldIndexCol):
			if seenIndex {
				return badRequest("invalid JSON body: field %q appears twice", fieldIndexCol)
			}
			seenIndex = true
			tok, err := next(dec)
			if err != nil {
				return err
			}
			s, ok := tok.(string)
			if !ok {
				return badRequest("field %q must be a string, not %s", fieldIndexCol, describe(tok))
			}
			top.indexCol = s
		case strings.EqualFold(key, fieldData):
			if top.hasData {
				return badRequest("invalid JSON body: field %q appears twice", fieldData)
			}
			top.hasData = true
			return onData(dec)
		default:
			return badRequest("invalid JSON body: unknown field %q", truncate(key))
		}
		return nil
	})
	if err != nil {
		return top, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return top, badRequest("invalid JSON body: trailing data after the top-level object")
	}
	return top, nil
}

// dataParser keeps the timestamp column and the target columns of data.
type dataParser struct {
	indexCol string
	targets  []string
	rowLimit int

	seenIndex bool
	times     []time.Time
	kpis      map[string][]float64
}

func (d *dataParser) parse(dec *json.Decoder) error {
	return walkObject(dec, fieldData, func(col string) error {
		isIndex := col == d.indexCol
		_, seenTarget := d.kpis[col]
		isTarget := slices.Contains(d.targets, col)
		if !isIndex && !isTarget {
			// Extra columns (time features, other KPIs) are ignored on
			// purpose: clients may send whole rows of the dataset.
			return readColumn(dec, col, d.rowLimit, skipCell)
		}
		if (isIndex && d.seenIndex) || (isTarget && seenTarget) {
			return badRequest("invalid JSON body: column %q appears twice in data", col)
		}
		var vals []float64
		err := readColumn(dec, col, d.rowLimit, func(_ *json.Decoder, row int, tok json.Token) error {
			if _, ok := tok.(json.Delim); ok {
				return badRequest("column %q row %d: value is %s, want a single value", col, row, describe(tok))
			}
			if isIndex {
				t, err := parseTime(tok)
				if err != nil {
					return badRequest("timestamp column %q row %d: %v", col, row, err)
				}
				d.times = append(d.times, t)
			}
			if isTarget {
				f, err := parseNumber(tok)
				if err != nil {
					return badRequest("column %q row %d: %v", col, row, err)
				}
				vals = append(vals, f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if isIndex {
			d.seenIndex = true
			if d.times == nil {
				d.times = []time.Time{}
			}
		}
		if isTarget {
			if vals == nil {
				vals = []float64{}
			}
			d.kpis[col] = vals
		}
		return nil
	})
}

// check verifies that every column the model needs is there, row for row.
func (d *dataParser) check() error {
	if !d.seenIndex {
		return badRequest("data has no timestamp column %q", d.indexCol)
	}
	if len(d.times) == 0 {
		return badRequest("data has no rows")
	}
	for _, col := range d.targets {
		vals, ok := d.kpis[col]
		if !ok {
			return badRequest("data is missing column %q", col)
		}
		if len(vals) != len(d.times) {
			return badRequest("column %q has %d rows, timestamp column has %d", col, len(vals), len(d.times))
		}
	}
	return nil
}

// next returns the next token; an end of input is unexpected, since every
// caller is inside a value.
func next(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, badRequest("invalid JSON body: %v", err)
	}
	return tok, nil
}

// walkObject reads an object, calling field with each key; field must
// consume the key's value. what names the object in errors.
func walkObject(dec *json.Decoder, what string, field func(key string) error) error {
	tok, err := next(dec)
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return badRequest("%s must be a JSON object, not %s", what, describe(tok))
	}
	for dec.More() {
		tok, err := next(dec)
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok { // the decoder's syntax check rules this out
			return badRequest("invalid JSON body: %s where %s has a key", describe(tok), what)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	_, err = next(dec) // '}'
	return err
}

// readColumn reads the array of column col, handing each element's first
// token to cell, and fails as soon as the array has more than rowLimit
// elements, so a huge array is never held.
func readColumn(dec *json.Decoder, col string, rowLimit int, cell func(dec *json.Decoder, row int, tok json.Token) error) error {
	tok, err := next(dec)
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return badRequest("column %q must be an array, not %s", col, describe(tok))
	}
	for row := 0; dec.More(); row++ {
		if row == rowLimit {
			return tooLarge("column %q has more than %d rows; send at most the last %d (the model uses only its most recent window)", col, rowLimit, rowLimit)
		}
		tok, err := next(dec)
		if err != nil {
			return err
		}
		if err := cell(dec, row, tok); err != nil {
			return err
		}
	}
	_, err = next(dec) // ']'
	return err
}

// skipCell consumes an element of an ignored column, which may be of any
// type, nested up to maxSkipDepth.
func skipCell(dec *json.Decoder, _ int, tok json.Token) error {
	depth := 0
	for {
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			if depth > maxSkipDepth {
				return badRequest("invalid JSON body: values in data are nested deeper than %d", maxSkipDepth)
			}
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if tok, err = next(dec); err != nil {
			return err
		}
	}
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%T", tok)
}

func parseNumber(tok json.Token) (float64, error) {
	switch v := tok.(type) {
	case json.Number:
		// A JSON number only fails to parse when it overflows float64.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("value %s is not a finite float64", truncate(string(v)))
		}
		return f, nil
	case nil:
		return 0, errors.New("value is null, want a number")
	case string:
		return 0, fmt.Errorf("value %q is not a number", truncate(v))
	}
	return 0, fmt.Errorf("value is %s, not a number", describe(tok))
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"}

// parseTime accepts an RFC 3339 (or "YYYY-MM-DD hh:mm:ss", UTC) string, or
// a number of Unix seconds.
func parseTime(tok json.Token) (time.Time, error) {
	switch v := tok.(type) {
	case string:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", truncate(v))
	case json.Number:
		secs, err := strconv.ParseFloat(string(v), 64)
		if err != nil || !(secs >= minUnixSeconds && secs <= maxUnixSeconds) {
			return time.Time{}, fmt.Errorf("timestamp %s is out of range for Unix seconds (years 1 to 9999)", truncate(string(v)))
		}
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(frac*1e9)).UTC(), nil
	case nil:
		return time.Time{}, errors.New("timestamp is null")
	}
	return time.Time{}, fmt.Errorf("timestamp is %s, neither a string nor Unix seconds", describe(tok))
}

// truncate shortens s for an error message, on a rune boundary.
func truncate(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
