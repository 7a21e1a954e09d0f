package inference

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testPod = "pod-under-test"

func newTestServer(t *testing.T, cfg Config, p Predictor) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Pod = testPod
	s := NewServer(cfg)
	if p != nil {
		s.SetModel(p)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

type response struct {
	code   int
	close  bool // the server asked to close the connection
	header http.Header
	body   map[string]any
}

func do(t *testing.T, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{code: resp.StatusCode, close: resp.Close, header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, url, raw)
	}
	if got := resp.Header.Get("X-Served-By"); got != testPod {
		t.Fatalf("%s %s: X-Served-By %q, want %q", method, url, got, testPod)
	}
	return out
}

func rowsJSON(n int, drop string, bad string) string {
	data := map[string]any{}
	ts := make([]string, n)
	for i := range ts {
		ts[i] = time.Date(2024, 3, 1, 0, 2*i, 0, 0, time.UTC).Format(time.RFC3339)
	}
	data["ts"] = ts
	for _, k := range testTargets {
		if k == drop {
			continue
		}
		vals := make([]any, n)
		for i := range vals {
			vals[i] = float64(i)
		}
		if k == bad {
			vals[0] = "not-a-number"
		}
		data[k] = vals
	}
	b, _ := json.Marshal(map[string]any{"inference_length": 3, "data": data, "index_col": "ts"})
	return string(b)
}

func TestPredictSuccess(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-1", value: 1.5})
	r := do(t, "POST", ts.URL+"/predict", `{"inference_length":2}`)
	if r.code != 200 || r.body["status"] != "SUCCESS" || r.body["run_id"] != "run-1" || r.body["model_type"] != "GRU" || r.body["req_id"] == "" {
		t.Fatalf("unexpected response %d %v", r.code, r.body)
	}
	if got := r.header.Get(ModelRunHeader); got != "run-1" {
		t.Errorf("%s = %q, want the answering run run-1", ModelRunHeader, got)
	}
	preds := r.body["predictions"].([]any)
	if len(preds) != 2 {
		t.Fatalf("got %d predictions, want 2", len(preds))
	}
	p := preds[0].(map[string]any)
	if _, err := time.Parse(time.RFC3339, p["ts"].(string)); err != nil {
		t.Fatalf("bad ts: %v", err)
	}
	for _, k := range testTargets {
		if v, ok := p[k].(float64); !ok || v != 1.5 {
			t.Fatalf("KPI %s = %v", k, p[k])
		}
	}

	// The query parameter overrides the body, and data rows are used.
	r = do(t, "POST", ts.URL+"/predict?inference_length=4", rowsJSON(5, "", ""))
	if r.code != 200 || len(r.body["predictions"].([]any)) != 4 {
		t.Fatalf("with data: %d %v", r.code, r.body)
	}
	first := r.body["predictions"].([]any)[0].(map[string]any)["ts"]
	if first != "2024-03-01T00:10:00Z" {
		t.Fatalf("first forecast at %v, want the step after the last row", first)
	}
	// Without index_col, a dataset-style "time" column is the timestamp.
	timeCol := strings.Replace(strings.Replace(rowsJSON(5, "", ""), `"ts":`, `"time":`, 1), `,"index_col":"ts"`, "", 1)
	if r = do(t, "POST", ts.URL+"/predict", timeCol); r.code != 200 {
		t.Fatalf("time column: %d %v", r.code, r.body)
	}
	// An empty body means the defaults.
	if r = do(t, "POST", ts.URL+"/predict", ""); r.code != 200 || len(r.body["predictions"].([]any)) != 1 {
		t.Fatalf("empty body: %d %v", r.code, r.body)
	}
}

func TestPredictErrors(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxInferenceLength: 60}, &fakePredictor{runID: "run-1"})
	cases := []struct {
		name, query, body string
		want              int
	}{
		{"bad JSON", "", `{"inference_length":`, 400},
		{"unknown field", "", `{"inference_length":1,"foo":1}`, 400},
		{"missing timestamp column", "", `{"data":{"down":[1,2]}}`, 400},
		{"missing KPI column", "", rowsJSON(5, "rb_up", ""), 400},
		{"non-numeric value", "", rowsJSON(5, "", "mcs_up"), 400},
		{"bad timestamp", "", `{"data":{"ts":["yesterday"]}}`, 400},
		{"model rejects input", "", rowsJSON(1, "", ""), 400},
		{"length zero", "", `{"inference_length":0}`, 422},
		{"length too large", "", `{"inference_length":61}`, 422},
		{"query not an integer", "?inference_length=ten", `{}`, 422},
		{"query out of range", "?inference_length=-1", `{}`, 422},
		{"body too large", "", `{"data":{"ts":["` + strings.Repeat("x", 1<<20) + `"]}}`, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "POST", ts.URL+"/predict"+c.query, c.body)
			if r.code != c.want || r.body["status"] != "ERROR" || r.body["error"] == "" || r.body["req_id"] == nil {
				t.Fatalf("got %d %v, want %d with an ERROR body", r.code, r.body, c.want)
			}
		})
	}
	if r := do(t, "GET", ts.URL+"/nope", ""); r.code != 404 || r.body["status"] != "ERROR" {
		t.Fatalf("unknown route: %d %v", r.code, r.body)
	}
	if r := do(t, "GET", ts.URL+"/predict", ""); r.code != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET /predict: %d", r.code)
	}
}

func TestNoModel(t *testing.T) {
	s, ts := newTestServer(t, Config{}, nil)
	if r := do(t, "GET", ts.URL+"/healthz", ""); r.code != 200 || r.body["model_ready"] != false || r.body["startup_ready_ms"] != nil || r.body["pod"] != testPod {
		t.Fatalf("healthz: %d %v", r.code, r.body)
	}
	if r := do(t, "GET", ts.URL+"/ready", ""); r.code != 503 {
		t.Fatalf("ready: %d", r.code)
	}
	if r := do(t, "POST", ts.URL+"/predict", `{}`); r.code != 503 || r.body["status"] != "ERROR" {
		t.Fatalf("predict: %d %v", r.code, r.body)
	}
	s.SetModel(&fakePredictor{runID: "run-9"})
	if r := do(t, "GET", ts.URL+"/ready", ""); r.code != 200 || r.body["status"] != "ready" {
		t.Fatalf("ready after load: %d %v", r.code, r.body)
	}
	r := do(t, "GET", ts.URL+"/healthz", "")
	if r.body["model_ready"] != true || r.body["model_version"] != "run-9" || r.body["model_type"] != "GRU" || r.body["startup_ready_ms"] == nil {
		t.Fatalf("healthz after load: %v", r.body)
	}
}

func TestQueueFullAnswers429(t *testing.T) {
	p := &fakePredictor{runID: "run-1", started: make(chan struct{}), block: make(chan struct{})}
	s, ts := newTestServer(t, Config{MaxInFlight: 1, MaxQueue: 1}, p)
	results := make(chan int, 2)
	go func() { results <- postCode(ts.URL) }()
	<-p.started // the first request holds the only slot
	go func() { results <- postCode(ts.URL) }()
	for s.limiter.QueueLength() != 1 { // the second waits in the queue
		runtime.Gosched()
	}
	r := do(t, "POST", ts.URL+"/predict", `{}`)
	if r.code != 429 || r.header.Get("Retry-After") != "1" || r.body["status"] != "ERROR" {
		t.Fatalf("got %d %v Retry-After=%q, want 429 with Retry-After 1", r.code, r.body, r.header.Get("Retry-After"))
	}
	// Probes bypass the queue.
	if h := do(t, "GET", ts.URL+"/healthz", ""); h.code != 200 || h.body["queue_length"] != float64(1) {
		t.Fatalf("healthz while busy: %d %v", h.code, h.body)
	}
	if h := do(t, "GET", ts.URL+"/ready", ""); h.code != 200 {
		t.Fatalf("ready while busy: %d", h.code)
	}
	close(p.block)
	<-p.started // the queued request runs once the first one ends
	for range 2 {
		if code := <-results; code != 200 {
			t.Fatalf("held request finished with %d", code)
		}
	}
}

func TestDeadlineAnswers504(t *testing.T) {
	p := &fakePredictor{runID: "run-1", block: make(chan struct{})}
	_, ts := newTestServer(t, Config{RequestTimeout: time.Millisecond}, p)
	defer close(p.block)
	r := do(t, "POST", ts.URL+"/predict", `{}`)
	if r.code != 504 || r.body["status"] != "ERROR" {
		t.Fatalf("got %d %v, want 504", r.code, r.body)
	}
}

func TestNonFiniteForecastIs500NotInvalidJSON(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-1", value: math.NaN()})
	if r := do(t, "POST", ts.URL+"/predict", `{}`); r.code != 500 || r.body["status"] != "ERROR" {
		t.Fatalf("got %d %v", r.code, r.body)
	}
}

func postCode(url string) int {
	resp, err := http.Post(url+"/predict", "application/json", strings.NewReader(`{}`))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestSwapUnderLoadLosesNoRequest(t *testing.T) {
	models := []*fakePredictor{{runID: "a", value: 1}, {runID: "b", value: 2}}
	s, ts := newTestServer(t, Config{MaxInFlight: 4, MaxQueue: 1000}, models[0])
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	stop := make(chan struct{})
	swapped := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				swapped <- n
				return
			default:
				n++
				s.SetModel(models[n%2])
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for range perWorker {
				resp, err := http.Post(ts.URL+"/predict", "application/json", strings.NewReader(`{}`))
				if err != nil {
					errs <- err
					continue
				}
				var body struct {
					RunID       string           `json:"run_id"`
					Predictions []map[string]any `json:"predictions"`
				}
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				switch {
				case err != nil:
					errs <- err
				case resp.StatusCode != 200:
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				case body.RunID != "a" && body.RunID != "b":
					errs <- fmt.Errorf("run_id %q", body.RunID)
				case (body.RunID == "a") != (body.Predictions[0]["down"] == 1.0):
					errs <- fmt.Errorf("run %s answered with another model's values", body.RunID)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if n := <-swapped; n < 2 {
		t.Fatalf("only %d swaps happened during the load", n)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	p := &fakePredictor{runID: "run-1", started: make(chan struct{}), block: make(chan struct{})}
	s := NewServer(Config{Pod: testPod, ShutdownGrace: time.Minute})
	s.SetModel(p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, nil) }()

	result := make(chan int, 1)
	go func() { result <- postCode(url) }()
	<-p.started
	cancel()
	for s.accepting.Load() {
		runtime.Gosched()
	}
	if s.isReady() {
		t.Fatal("server still ready after shutdown began")
	}
	close(p.block)
	if code := <-result; code != 200 {
		t.Fatalf("in-flight request ended with %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestMetricsExposed(t *testing.T) {
	s, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-7"})
	_ = do(t, "POST", ts.URL+"/predict", `{}`)
	_ = do(t, "POST", ts.URL+"/predict", `{"inference_length":0}`)
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`flts_inference_requests_total{code="200",path="/predict"} 1`,
		`flts_inference_requests_total{code="422",path="/predict"} 1`,
		`flts_inference_model_info{model_type="GRU",run_id="run-7"} 1`,
		`flts_inference_queue_depth 0`,
		`flts_inference_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestDrainDelayKeepsServingButFailsReady(t *testing.T) {
	s := NewServer(Config{Pod: testPod, DrainDelay: time.Hour})
	s.SetModel(&fakePredictor{runID: "run-1"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, nil) }()
	if r := do(t, "GET", url+"/ready", ""); r.code != 200 {
		t.Fatalf("ready before shutdown: %d", r.code)
	}
	cancel()
	for s.accepting.Load() {
		runtime.Gosched()
	}
	if r := do(t, "GET", url+"/ready", ""); r.code != 503 {
		t.Fatalf("ready while draining: %d", r.code)
	}
	r := do(t, "POST", url+"/predict", `{}`)
	if r.code != 200 || !r.close {
		t.Fatalf("predict while draining: %d close=%v", r.code, r.close)
	}
	close(s.endDrain)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// rowsWith is rowsJSON(n) with column col's row set to the JSON literal raw.
func rowsWith(t *testing.T, n int, col string, row int, raw string) string {
	t.Helper()
	var req map[string]any
	if err := json.Unmarshal([]byte(rowsJSON(n, "", "")), &req); err != nil {
		t.Fatal(err)
	}
	req["data"].(map[string]any)[col].([]any)[row] = json.RawMessage(raw)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPredictRejectsMalformedInput(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-1"})
	cases := []struct {
		name, body string
		want       int
		msg        string // in the error
	}{
		{"null KPI value", rowsWith(t, 5, "mcs_up", 0, "null"), 400, `column "mcs_up" row 0: value is null`},
		{"null timestamp", rowsWith(t, 5, "ts", 0, "null"), 400, `timestamp column "ts" row 0: timestamp is null`},
		{"null inference_length", `{"inference_length":null}`, 400, `"inference_length" must be an integer, not null`},
		{"null data", `{"data":null}`, 400, "data must be a JSON object, not null"},
		{"trailing brace", `{"inference_length":1}}`, 400, "trailing data"},
		{"overflowing KPI value", rowsWith(t, 5, "down", 0, "1e400"), 400, `column "down" row 0: value 1e400 is not a finite float64`},
		{"timestamp beyond year 9999", rowsWith(t, 5, "ts", 0, "1e300"), 400, `timestamp column "ts" row 0`},
		{"repeated column", strings.Replace(rowsJSON(5, "", ""), `"up":`, `"up":[0,1,2,3,4],"up":`, 1), 400, `column "up" appears twice`},
		{"rows beyond the limit", rowsJSON(maxRows+1, "", ""), 413, "more than 1000 rows"},
		{"1 MiB of tiny rows", string(tinyRowsBody(1<<20 - 1)), 413, "more than 1000 rows"},
		{"body beyond the byte limit", string(tinyRowsBody(1<<20 + 1)), 413, "request body exceeds 1048576 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "POST", ts.URL+"/predict", c.body)
			msg, _ := r.body["error"].(string)
			if r.code != c.want || r.body["status"] != "ERROR" || r.body["req_id"] == nil || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %v, want %d with an ERROR body saying %q", r.code, r.body, c.want, c.msg)
			}
		})
	}
}

func TestPredictAcceptsRowsUpToTheLimit(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-1"})
	for _, n := range []int{2, maxRows} {
		if r := do(t, "POST", ts.URL+"/predict", rowsJSON(n, "", "")); r.code != 200 || r.body["status"] != "SUCCESS" {
			t.Fatalf("%d rows: %d %v", n, r.code, r.body)
		}
	}
}

// A forecast that overflows from the client's rows is the input's doing:
// 400 naming the column, where the same from the cached window stays 500.
func TestNonFiniteForecastFromDataIs400(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &fakePredictor{runID: "run-1", value: math.Inf(1)})
	r := do(t, "POST", ts.URL+"/predict", rowsJSON(5, "", ""))
	msg, _ := r.body["error"].(string)
	if r.code != 400 || r.body["status"] != "ERROR" || !strings.Contains(msg, `column "down" at step 1 is not finite`) {
		t.Fatalf("got %d %v, want 400 naming the column", r.code, r.body)
	}
}

// A huge but finite KPI value overflowed a real model's arithmetic into a
// 500; it is a 400 naming the column.
func TestHugeValueWithRealModelIs400(t *testing.T) {
	_, ts := newTestServer(t, Config{}, trainGRU(t, 200, "4"))
	// The last row is in the model's window.
	body := rowsWith(t, 12, "rb_up_var", 11, "1.7976931348623157e308")
	r := do(t, "POST", ts.URL+"/predict", body)
	msg, _ := r.body["error"].(string)
	if r.code != 400 || !strings.Contains(msg, `"rb_up_var"`) {
		t.Fatalf("got %d %v, want 400 naming rb_up_var", r.code, r.body)
	}
}

func TestModelPanicAnswers500(t *testing.T) {
	var logs syncBuffer
	s := NewServer(Config{Pod: testPod, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.SetModel(&fakePredictor{runID: "run-1", panicWith: "boom"})
	h := s.Handler()
	for _, body := range []string{`{}`, rowsJSON(5, "", "")} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/predict", strings.NewReader(body)))
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 500 || got["status"] != "ERROR" || got["req_id"] == nil {
			t.Fatalf("got %d %q, want 500 with an ERROR body", rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "boom") {
			t.Fatalf("the panic value reached the client: %s", rec.Body)
		}
	}
	if out := logs.String(); !strings.Contains(out, "model panicked") || !strings.Contains(out, "boom") {
		t.Fatalf("log lacks the panic: %s", out)
	}
	for s.limiter.InFlight() != 0 { // the slot is released after the answer
		runtime.Gosched()
	}
	s.SetModel(&fakePredictor{runID: "run-2"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/predict", strings.NewReader(`{}`)))
	if rec.Code != 200 {
		t.Fatalf("after a panic: %d %s", rec.Code, rec.Body)
	}
}

// watchedBody records whether the handler read the request body.
type watchedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// A request waiting for a slot, or refused one, has not read its body: the
// queue holds no request bodies.
func TestBodyReadOnlyAfterAdmission(t *testing.T) {
	p := &fakePredictor{runID: "run-1", started: make(chan struct{}), block: make(chan struct{})}
	s := NewServer(Config{Pod: testPod, MaxInFlight: 1, MaxQueue: 1})
	s.SetModel(p)
	h := s.Handler()
	serve := func(body io.Reader) (*httptest.ResponseRecorder, chan struct{}) {
		rec, done := httptest.NewRecorder(), make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/predict", body))
		}()
		return rec, done
	}

	first, firstDone := serve(strings.NewReader(`{}`))
	<-p.started // the first request holds the only slot
	queued := &watchedBody{r: strings.NewReader(`{"inference_length":2}`)}
	second, secondDone := serve(queued)
	for s.limiter.QueueLength() != 1 {
		runtime.Gosched()
	}
	if queued.read.Load() {
		t.Fatal("a request waiting for a slot read its body")
	}
	refused := &watchedBody{r: strings.NewReader(`{}`)}
	third, thirdDone := serve(refused)
	<-thirdDone
	if third.Code != 429 || refused.read.Load() {
		t.Fatalf("third request: %d, body read %v; want 429 without reading", third.Code, refused.read.Load())
	}

	close(p.block)
	<-p.started // the queued request runs once the first one ends
	<-firstDone
	<-secondDone
	if first.Code != 200 || second.Code != 200 || !queued.read.Load() {
		t.Fatalf("held requests: %d and %d (body read %v), want 200s", first.Code, second.Code, queued.read.Load())
	}
	var body struct{ Predictions []any }
	if err := json.Unmarshal(second.Body.Bytes(), &body); err != nil || len(body.Predictions) != 2 {
		t.Fatalf("queued request answered %s", second.Body)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The metrics wrapper must not hide what the real writer can do.
func TestStatusRecorderKeepsFlusherAndUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	var w http.ResponseWriter = &statusRecorder{ResponseWriter: rec, code: http.StatusOK}
	f, ok := w.(http.Flusher)
	if !ok {
		t.Fatal("statusRecorder is not an http.Flusher")
	}
	f.Flush()
	if !rec.Flushed {
		t.Error("Flush did not reach the wrapped writer")
	}
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != rec {
		t.Error("Unwrap does not return the wrapped writer")
	}
}
