package inference

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/flts/flts-e2e/pkg/httpjson"
)

// Config tunes the server; zero fields take the defaults.
type Config struct {
	Pod                string        // X-Served-By and /healthz "pod"
	MaxInferenceLength int           // default 60
	MaxInFlight        int           // default 2×GOMAXPROCS
	MaxQueue           int           // default 64; negative means 0
	RequestTimeout     time.Duration // queue wait + work; default 10s
	MaxBodyBytes       int64         // default 1 MiB
	ShutdownGrace      time.Duration // drain time on shutdown; default 20s
	// DrainDelay is how long the server keeps serving, failing /ready, after
	// shutdown begins, so endpoints drop the pod before its listener closes.
	DrainDelay time.Duration
	Logger     *slog.Logger // default silent
}

func (c Config) withDefaults() Config {
	if c.MaxInferenceLength <= 0 {
		c.MaxInferenceLength = 60
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2 * runtime.GOMAXPROCS(0)
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 64
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 20 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ModelRunHeader carries, on every successful /predict answer, the run id
// of the model that computed it.
const ModelRunHeader = "X-Model-Run-Id"

// Server is the inference API.
type Server struct {
	cfg       Config
	log       *slog.Logger
	limiter   *Limiter
	model     atomic.Pointer[Predictor]
	accepting atomic.Bool // false once shutdown starts
	started   time.Time
	readyMS   atomic.Int64 // ms from start to the first model; -1 until then
	reqPrefix string
	reqSeq    atomic.Uint64
	metrics   *metrics
	endDrain  chan struct{} // closed by tests to cut DrainDelay short
}

// NewServer returns a server with no model; /ready answers 503 until SetModel.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		limiter:   NewLimiter(cfg.MaxInFlight, cfg.MaxQueue),
		started:   time.Now(),
		reqPrefix: hex.EncodeToString(b[:]) + "-",
		endDrain:  make(chan struct{}),
	}
	s.readyMS.Store(-1)
	s.accepting.Store(true)
	s.metrics = newMetrics(s)
	return s
}

// SetModel atomically replaces the served model. Requests already running
// finish on the model they started with.
func (s *Server) SetModel(p Predictor) {
	old := s.model.Swap(&p)
	s.readyMS.CompareAndSwap(-1, time.Since(s.started).Milliseconds())
	s.metrics.setModel(p.RunID(), p.ModelType())
	oldRun := ""
	if old != nil {
		oldRun = (*old).RunID()
	}
	s.log.Info("model loaded", "run_id", p.RunID(), "model_type", p.ModelType(), "previous_run_id", oldRun)
}

// Model returns the served model, or nil.
func (s *Server) Model() Predictor {
	if p := s.model.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Server) isReady() bool { return s.accepting.Load() && s.model.Load() != nil }

// Handler returns the API handler (/healthz, /ready, /predict).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /ready", s.handleReady)
	mux.HandleFunc("POST /predict", s.handlePredict)
	mux.HandleFunc("/predict", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, "", &apiError{code: http.StatusMethodNotAllowed, msg: "use POST /predict"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, "", &apiError{code: http.StatusNotFound, msg: "no route " + r.Method + " " + r.URL.Path})
	})
	return s.instrument(mux)
}

// MetricsHandler returns the Prometheus handler for the metrics listener.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }

// instrument sets X-Served-By on every response and records metrics.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", s.cfg.Pod)
		if !s.accepting.Load() {
			// Draining: move keep-alive clients to other pods.
			w.Header().Set("Connection", "close")
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		path := r.URL.Path
		switch path {
		case "/healthz", "/ready", "/predict":
		default:
			path = "other" // bounded label cardinality
		}
		s.metrics.observe(path, rec.code, time.Since(start).Seconds())
	})
}

// statusRecorder keeps the status for the metrics. Unwrap and Flush keep
// what the wrapped writer can do reachable (http.ResponseController looks
// through Unwrap; Flush is for handlers that type-assert http.Flusher).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	type health struct {
		Status         string `json:"status"`
		Service        string `json:"service"`
		ModelReady     bool   `json:"model_ready"`
		QueueLength    int    `json:"queue_length"`
		InFlight       int    `json:"in_flight"`
		StartupReadyMS *int64 `json:"startup_ready_ms"`
		Pod            string `json:"pod"`
		ModelVersion   string `json:"model_version"`
		ModelType      string `json:"model_type"`
	}
	h := health{Status: "ok", Service: "inference-api", QueueLength: s.limiter.QueueLength(), InFlight: s.limiter.InFlight(), Pod: s.cfg.Pod}
	if ms := s.readyMS.Load(); ms >= 0 {
		h.StartupReadyMS = &ms
	}
	if m := s.Model(); m != nil {
		h.ModelReady, h.ModelVersion, h.ModelType = true, m.RunID(), m.ModelType()
	}
	httpjson.Write(w, http.StatusOK, h)
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !s.accepting.Load():
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
	case s.model.Load() == nil:
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": ErrNoModel.Error()})
	default:
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	reqID := s.reqPrefix + strconv.FormatUint(s.reqSeq.Add(1), 10)
	m := s.Model()
	if m == nil {
		s.writeError(w, reqID, ErrNoModel)
		return
	}
	// A body announced too large is refused before it takes a slot.
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, reqID, tooLarge("request body exceeds %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	// Admission comes before the body is read: a waiting request holds no
	// body, so memory is bounded by MaxInFlight bodies, not by the queue.
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		s.writeError(w, reqID, err)
		return
	}
	req, err := parsePredict(r, s.cfg.MaxBodyBytes, s.cfg.MaxInferenceLength, m.Targets())
	if err == nil {
		err = ctx.Err() // a slow upload may have used up the deadline
	}
	if err != nil {
		release()
		s.writeError(w, reqID, err)
		return
	}
	type result struct {
		points []Point
		err    error
	}
	// The model call cannot be interrupted, so it runs on its own goroutine
	// that keeps the slot until it really ends; the client gets 504 at the
	// deadline either way.
	done := make(chan result, 1)
	go func() {
		defer release()
		var res result
		// A panic on this goroutine would end the process: it becomes a
		// 500 for this request alone.
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("model panicked", "req_id", reqID, "run_id", m.RunID(), "panic", v, "stack", string(debug.Stack()))
				res = result{err: errModelPanicked}
			}
			done <- res
		}()
		if req.kpis == nil {
			res.points, res.err = m.PredictLatest(req.steps)
		} else {
			res.points, res.err = m.PredictFrom(req.times, req.kpis, req.steps)
		}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			s.writeError(w, reqID, res.err)
			return
		}
		body, err := encodePredictions(reqID, m, res.points)
		var nf *nonFiniteError
		if errors.As(err, &nf) && req.kpis != nil {
			// From the client's rows, an overflow is the input's doing
			// (values far outside the training range), not the server's.
			err = badRequest("forecast of column %q at step %d is not finite: the values in data are too large for the model", nf.col, nf.step)
		}
		if err != nil {
			s.writeError(w, reqID, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// The run that answered, also in the body: a client (the load
		// generator) can follow model switches per pod without parsing it.
		w.Header().Set(ModelRunHeader, m.RunID())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	case <-ctx.Done():
		s.writeError(w, reqID, ctx.Err())
	}
}

// errModelPanicked answers a request whose model call panicked; the panic
// itself is logged, not sent to the client.
var errModelPanicked = errors.New("internal error: the model failed on this request")

// nonFiniteError is a forecast value that JSON cannot carry.
type nonFiniteError struct {
	col  string
	step int
}

func (e *nonFiniteError) Error() string {
	return fmt.Sprintf("model produced no finite value for %q at step %d", e.col, e.step)
}

// statusOf maps an error to its HTTP status: the one place that does.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.code
	case errors.Is(err, ErrQueueFull):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrNoModel):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrBadInput):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

func (s *Server) writeError(w http.ResponseWriter, reqID string, err error) {
	code := statusOf(err)
	msg := err.Error()
	switch code {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case http.StatusGatewayTimeout:
		msg = fmt.Sprintf("request exceeded its deadline of %s", s.cfg.RequestTimeout)
	case http.StatusInternalServerError:
		s.log.Error("prediction failed", "req_id", reqID, "error", err)
	}
	body := map[string]any{"status": "ERROR", "error": msg}
	if reqID != "" {
		body["req_id"] = reqID
	}
	httpjson.Write(w, code, body)
}

// encodePredictions writes the success body by hand: "ts" first and the
// KPIs in model order, and a clear error instead of invalid JSON when the
// model yields a non-finite value.
func encodePredictions(reqID string, m Predictor, points []Point) ([]byte, error) {
	targets := m.Targets()
	b := make([]byte, 0, 128+len(points)*(40+len(targets)*32))
	b = append(b, `{"status":"SUCCESS","run_id":`...)
	b = strconv.AppendQuote(b, m.RunID())
	b = append(b, `,"model_type":`...)
	b = strconv.AppendQuote(b, m.ModelType())
	b = append(b, `,"predictions":[`...)
	for i, p := range points {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ts":`...)
		b = strconv.AppendQuote(b, p.Time.UTC().Format(time.RFC3339))
		for _, col := range targets {
			v, ok := p.Values[col]
			if !ok {
				return nil, fmt.Errorf("model produced no value for %q at step %d", col, i+1)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &nonFiniteError{col: col, step: i + 1}
			}
			b = append(b, ',')
			b = strconv.AppendQuote(b, col)
			b = append(b, ':')
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, '}')
	}
	b = append(b, `],"req_id":`...)
	b = strconv.AppendQuote(b, reqID)
	b = append(b, "}\n"...)
	return b, nil
}

// Serve runs the API on api and the metrics on metricsLn (nil: none) until
// ctx is done, then stops accepting, marks itself not ready and drains
// in-flight requests for up to ShutdownGrace.
func (s *Server) Serve(ctx context.Context, api, metricsLn net.Listener) error {
	apiSrv := newHTTPServer(s.Handler(), s.cfg.RequestTimeout)
	// Open client connections, for the drain below.
	var open atomic.Int64
	apiSrv.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- apiSrv.Serve(api) }()
	var metricsSrv *http.Server
	if metricsLn != nil {
		metricsSrv = newHTTPServer(s.MetricsHandler(), 10*time.Second)
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
	}
	s.log.Info("serving", "api", api.Addr().String(), "pod", s.cfg.Pod)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("failed to serve: %w", err)
	}
	s.accepting.Store(false)
	if s.cfg.DrainDelay > 0 {
		s.log.Info("shutting down: failing /ready while still serving", "drain_delay", s.cfg.DrainDelay)
		select {
		case <-time.After(s.cfg.DrainDelay):
		case <-s.endDrain:
		}
	}
	// While draining, every answer carries "Connection: close", so a client
	// holding a keep-alive connection to this pod (pinned past the Service
	// by conntrack) leaves after its next request. Give the last ones up to
	// half the drain delay again before Shutdown closes what is still idle:
	// closing a connection the client is writing its next request into is
	// a reset the client sees as a failed request.
	for wait := time.Now().Add(s.cfg.DrainDelay / 2); open.Load() > 0 && time.Now().Before(wait); {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-s.endDrain:
			wait = time.Now()
		}
	}
	s.log.Info("shutting down: draining in-flight requests", "open_connections", open.Load(), "in_flight", s.limiter.InFlight(), "queued", s.limiter.QueueLength(), "grace", s.cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	err := apiSrv.Shutdown(sctx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err != nil {
		return fmt.Errorf("failed to drain in-flight requests: %w", err)
	}
	s.log.Info("drained")
	return nil
}

func newHTTPServer(h http.Handler, requestTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      requestTimeout + 15*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
