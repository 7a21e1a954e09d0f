package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/httpjson"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// DefaultMaxBodyBytes bounds request bodies; larger ones get 413.
const DefaultMaxBodyBytes = 1 << 20

// Limits of one log-batch request (MLflow's).
const (
	maxBatchMetrics      = 1000
	maxBatchParams       = 100
	maxBatchTags         = 100
	maxSearchResults     = 50000
	defaultSearchResults = 1000
)

// Server serves the MLflow REST subset and the HTML page.
type Server struct {
	repo         *repo
	logger       *slog.Logger
	maxBodyBytes int64
	mux          *http.ServeMux
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the server's logger (default silent).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.logger = l
		}
	}
}

// WithMaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxBodyBytes = n
		}
	}
}

// WithClock sets the time source for timestamps the server fills in.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.repo.now = now
		}
	}
}

// New returns a Server keeping its data in store's mlflow bucket.
// Call Init before serving.
func New(store objstore.Store, opts ...Option) *Server {
	s := &Server{
		repo:         newRepo(store, objstore.BucketMLflow, time.Now),
		logger:       slog.New(slog.DiscardHandler),
		maxBodyBytes: DefaultMaxBodyBytes,
		mux:          http.NewServeMux(),
	}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

// Init creates the mlflow bucket and MLflow's "Default" experiment (id 0)
// when missing. It is idempotent.
func (s *Server) Init(ctx context.Context) error {
	if err := s.repo.store.EnsureBucket(ctx, s.repo.bucket); err != nil {
		return fmt.Errorf("failed to ensure bucket %q: %w", s.repo.bucket, err)
	}
	if _, err := s.repo.getExperimentByName(ctx, defaultExperimentName); err == nil {
		return nil
	}
	_, err := s.repo.createExperiment(ctx, defaultExperimentName, "", nil)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.code == tracking.ErrorCodeAlreadyExists) {
		return fmt.Errorf("failed to create the default experiment: %w", err)
	}
	return nil
}

// readyTimeout bounds one readiness check, below the probe's own timeout.
const readyTimeout = 4 * time.Second

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	type route struct {
		method string
		path   string
		h      func(*http.Request) (any, error)
	}
	routes := []route{
		{http.MethodPost, "experiments/create", s.createExperiment},
		{http.MethodGet, "experiments/get-by-name", s.getExperimentByName},
		{http.MethodGet, "experiments/get", s.getExperiment},
		{http.MethodPost, "runs/create", s.createRun},
		{http.MethodPost, "runs/update", s.updateRun},
		{http.MethodGet, "runs/get", s.getRun},
		{http.MethodPost, "runs/search", s.searchRuns},
		{http.MethodPost, "runs/log-metric", s.logMetric},
		{http.MethodPost, "runs/log-parameter", s.logParam},
		{http.MethodPost, "runs/set-tag", s.setTag},
		{http.MethodPost, "runs/log-batch", s.logBatch},
		{http.MethodGet, "artifacts/list", s.listArtifacts},
	}
	for _, rt := range routes {
		s.mux.Handle(tracking.APIPrefix+rt.path, s.api(rt.method, rt.h))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &apiError{status: http.StatusNotFound, code: tracking.ErrorCodeEndpointNotFound,
			message: fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path)})
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok", "service": "tracking"})
	})
	// Readiness reflects the store: Init is idempotent and cheap (a bucket
	// check and an experiment lookup), and when the store came back empty
	// (MinIO replaced without its volume) it re-creates the bucket and the
	// default experiment here instead of answering 500 until a restart.
	s.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.Init(ctx); err != nil {
			w.Header().Set("Retry-After", "2")
			httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	s.mux.HandleFunc("GET /{$}", s.page)
}

// api adapts a handler returning (response, error) to HTTP: method check,
// body limit, JSON out, errors as MLflow's {"error_code","message"}.
func (s *Server) api(method string, h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: tracking.ErrorCodeMethodNotAllowed,
				message: fmt.Sprintf("%s requires %s", r.URL.Path, method)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
		resp, err := h(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		httpjson.Write(w, http.StatusOK, resp)
	})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = &apiError{status: http.StatusRequestEntityTooLarge, code: tracking.ErrorCodeLimitExceeded,
			message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	case errors.Is(err, context.Canceled):
		ae = &apiError{status: 499, code: tracking.ErrorCodeInternalError, message: "request canceled"}
	default:
		s.logger.Error("request failed", "path", r.URL.Path, "error", err.Error())
		ae = &apiError{status: http.StatusInternalServerError, code: tracking.ErrorCodeInternalError, message: err.Error()}
	}
	if ae.status >= 500 || ae.status == http.StatusRequestEntityTooLarge {
		s.logger.Warn("request error", "path", r.URL.Path, "status", ae.status, "error_code", ae.code)
	}
	httpjson.Write(w, ae.status, map[string]string{"error_code": ae.code, "message": ae.message})
}

// decode reads a JSON body into v; an empty body decodes as {}.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		return &apiError{status: http.StatusBadRequest, code: tracking.ErrorCodeBadRequest,
			message: fmt.Sprintf("invalid JSON body: %v", err)}
	}
	return nil
}

// runIDOf accepts run_id or its deprecated alias run_uuid.
func runIDOf(runID, runUUID string) string {
	if runID != "" {
		return runID
	}
	return runUUID
}

// ---- experiments ----

func (s *Server) createExperiment(r *http.Request) (any, error) {
	var req struct {
		Name             string            `json:"name"`
		ArtifactLocation string            `json:"artifact_location"`
		Tags             []tracking.RunTag `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, invalid("Missing value for required parameter 'name'")
	}
	if err := validateTags(req.Tags); err != nil {
		return nil, err
	}
	id, err := s.repo.createExperiment(r.Context(), req.Name, req.ArtifactLocation, req.Tags)
	if err != nil {
		return nil, err
	}
	s.logger.Info("created experiment", "name", req.Name, "experiment_id", id)
	return map[string]string{"experiment_id": id}, nil
}

func (s *Server) getExperimentByName(r *http.Request) (any, error) {
	name := r.URL.Query().Get("experiment_name")
	if name == "" {
		return nil, invalid("Missing value for required parameter 'experiment_name'")
	}
	e, err := s.repo.getExperimentByName(r.Context(), name)
	if err != nil {
		return nil, err
	}
	return map[string]tracking.Experiment{"experiment": e}, nil
}

func (s *Server) getExperiment(r *http.Request) (any, error) {
	e, err := s.repo.getExperiment(r.Context(), r.URL.Query().Get("experiment_id"))
	if err != nil {
		return nil, err
	}
	return map[string]tracking.Experiment{"experiment": e}, nil
}

// ---- runs ----

func (s *Server) createRun(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string            `json:"experiment_id"`
		UserID       string            `json:"user_id"`
		RunName      string            `json:"run_name"`
		StartTime    int64             `json:"start_time"`
		Tags         []tracking.RunTag `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	run, err := s.repo.createRun(r.Context(), req.ExperimentID, req.RunName, req.UserID, req.StartTime, req.Tags)
	if err != nil {
		return nil, err
	}
	s.logger.Info("created run", "run_id", run.Info.RunID, "experiment_id", run.Info.ExperimentID, "run_name", run.Info.RunName)
	return map[string]tracking.Run{"run": run}, nil
}

func (s *Server) updateRun(r *http.Request) (any, error) {
	var req struct {
		RunID   string `json:"run_id"`
		RunUUID string `json:"run_uuid"`
		Status  string `json:"status"`
		EndTime int64  `json:"end_time"`
		RunName string `json:"run_name"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Status != "" && !validStatus(req.Status) {
		return nil, invalid("Invalid run status %q: expected RUNNING, SCHEDULED, FINISHED, FAILED or KILLED", req.Status)
	}
	now := s.repo.nowMillis()
	run, err := s.repo.updateRun(r.Context(), runIDOf(req.RunID, req.RunUUID), func(run *tracking.Run) error {
		if req.Status != "" {
			run.Info.Status = req.Status
		}
		switch {
		case req.EndTime != 0:
			run.Info.EndTime = req.EndTime
		case terminalStatus(req.Status):
			run.Info.EndTime = now
		}
		if req.RunName != "" {
			applyTags(run, []tracking.RunTag{{Key: tagRunName, Value: req.RunName}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]tracking.RunInfo{"run_info": run.Info}, nil
}

func (s *Server) getRun(r *http.Request) (any, error) {
	q := r.URL.Query()
	run, err := s.repo.getRun(r.Context(), runIDOf(q.Get("run_id"), q.Get("run_uuid")))
	if err != nil {
		return nil, err
	}
	return map[string]tracking.Run{"run": run}, nil
}

func (s *Server) searchRuns(r *http.Request) (any, error) {
	var req struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		RunViewType   string   `json:"run_view_type"`
		MaxResults    int      `json:"max_results"`
		OrderBy       []string `json:"order_by"`
		PageToken     string   `json:"page_token"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.ExperimentIDs) == 0 {
		return nil, invalid("Missing value for required parameter 'experiment_ids'")
	}
	clauses, err := parseFilter(req.Filter)
	if err != nil {
		return nil, invalid("Error on parsing filter '%s': %v", req.Filter, err)
	}
	order, err := parseOrderBy(req.OrderBy)
	if err != nil {
		return nil, invalid("%v", err)
	}
	switch {
	case req.MaxResults == 0:
		req.MaxResults = defaultSearchResults
	case req.MaxResults < 0 || req.MaxResults > maxSearchResults:
		return nil, invalid("Invalid value %d for parameter 'max_results': must be between 1 and %d", req.MaxResults, maxSearchResults)
	}
	offset, err := decodePageToken(req.PageToken)
	if err != nil {
		return nil, err
	}
	all, err := s.repo.runsOf(r.Context(), req.ExperimentIDs)
	if err != nil {
		return nil, err
	}
	matched := make([]tracking.Run, 0, len(all))
	for i := range all {
		if matchesAll(clauses, &all[i]) {
			matched = append(matched, all[i])
		}
	}
	sortRuns(matched, order)
	resp := tracking.SearchResponse{Runs: []tracking.Run{}}
	if offset < len(matched) {
		end := min(offset+req.MaxResults, len(matched))
		resp.Runs = matched[offset:end]
		if end < len(matched) {
			resp.NextPageToken = base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		}
	}
	return resp, nil
}

func matchesAll(clauses []clause, run *tracking.Run) bool {
	for _, c := range clauses {
		if !c.matches(run) {
			return false
		}
	}
	return true
}

func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, invalid("Invalid page token")
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return 0, invalid("Invalid page token")
	}
	return n, nil
}

// ---- logging ----

func (s *Server) logMetric(r *http.Request) (any, error) {
	var req struct {
		RunID     string   `json:"run_id"`
		RunUUID   string   `json:"run_uuid"`
		Key       string   `json:"key"`
		Value     *float64 `json:"value"`
		Timestamp int64    `json:"timestamp"`
		Step      int64    `json:"step"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Value == nil {
		return nil, invalid("Missing value for required parameter 'value'")
	}
	m := tracking.Metric{Key: req.Key, Value: *req.Value, Timestamp: req.Timestamp, Step: req.Step}
	return s.batch(r.Context(), runIDOf(req.RunID, req.RunUUID), []tracking.Metric{m}, nil, nil)
}

// runKeyValue is the body of log-parameter and set-tag, which differ only
// in what the key and value become.
type runKeyValue struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
	Key     string `json:"key"`
	Value   string `json:"value"`
}

func (s *Server) logParam(r *http.Request) (any, error) {
	var req runKeyValue
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.batch(r.Context(), runIDOf(req.RunID, req.RunUUID), nil, []tracking.Param{{Key: req.Key, Value: req.Value}}, nil)
}

func (s *Server) setTag(r *http.Request) (any, error) {
	var req runKeyValue
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.batch(r.Context(), runIDOf(req.RunID, req.RunUUID), nil, nil, []tracking.RunTag{{Key: req.Key, Value: req.Value}})
}

func (s *Server) logBatch(r *http.Request) (any, error) {
	var req struct {
		RunID   string            `json:"run_id"`
		Metrics []tracking.Metric `json:"metrics"`
		Params  []tracking.Param  `json:"params"`
		Tags    []tracking.RunTag `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Metrics) > maxBatchMetrics || len(req.Params) > maxBatchParams || len(req.Tags) > maxBatchTags {
		return nil, invalid("A batch logging request can contain at most %d metrics, %d params and %d tags; got %d, %d and %d",
			maxBatchMetrics, maxBatchParams, maxBatchTags, len(req.Metrics), len(req.Params), len(req.Tags))
	}
	return s.batch(r.Context(), req.RunID, req.Metrics, req.Params, req.Tags)
}

// batch validates everything first, then applies it in one write, so a bad
// entry leaves the run unchanged.
func (s *Server) batch(ctx context.Context, runID string, ms []tracking.Metric, ps []tracking.Param, ts []tracking.RunTag) (any, error) {
	if err := validateMetrics(ms); err != nil {
		return nil, err
	}
	if err := validateTags(ts); err != nil {
		return nil, err
	}
	now := s.repo.nowMillis()
	_, err := s.repo.updateRun(ctx, runID, func(run *tracking.Run) error {
		if err := validateParams(run, ps); err != nil {
			return err
		}
		applyMetrics(run, ms, now)
		applyParams(run, ps)
		applyTags(run, ts)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// ---- artifacts ----

func (s *Server) listArtifacts(r *http.Request) (any, error) {
	q := r.URL.Query()
	run, err := s.repo.getRun(r.Context(), runIDOf(q.Get("run_id"), q.Get("run_uuid")))
	if err != nil {
		return nil, err
	}
	rel := strings.Trim(q.Get("path"), "/")
	if rel != "" {
		if err := validateKey("artifact path", rel); err != nil {
			return nil, err
		}
	}
	bucket, root, err := tracking.SplitS3URI(run.Info.ArtifactURI)
	if err != nil {
		return nil, err
	}
	prefix := root + "/"
	if rel != "" {
		prefix += rel + "/"
	}
	objs, err := s.repo.store.List(r.Context(), bucket, prefix)
	if err != nil {
		return nil, fmt.Errorf("failed to list artifacts of run %s: %w", run.Info.RunID, err)
	}
	files := []tracking.FileInfo{}
	seenDirs := map[string]bool{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, prefix)
		name, _, isDir := strings.Cut(rest, "/")
		p := path.Join(rel, name)
		if isDir {
			if !seenDirs[p] {
				seenDirs[p] = true
				files = append(files, tracking.FileInfo{Path: p, IsDir: true})
			}
			continue
		}
		files = append(files, tracking.FileInfo{Path: p, FileSize: o.Size})
	}
	return map[string]any{"root_uri": run.Info.ArtifactURI, "files": files}, nil
}
