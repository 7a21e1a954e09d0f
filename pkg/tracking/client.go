package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// APIError is an error answered by the tracking server, with MLflow's
// error_code (e.g. RESOURCE_DOES_NOT_EXIST).
type APIError struct {
	StatusCode int
	ErrorCode  string `json:"error_code"`
	Message    string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("tracking server: %d %s: %s", e.StatusCode, e.ErrorCode, e.Message)
}

// IsNotFound reports whether err is the server's RESOURCE_DOES_NOT_EXIST.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.ErrorCode == ErrorCodeNotFound
}

// Client talks to an MLflow-compatible tracking server.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for baseURL (e.g. "http://tracking:5000"). A
// nil hc means http.DefaultClient; set timeouts there or through contexts.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), hc: hc}
}

// do sends one API call; body (POST) or query (GET) and decodes into out.
func (c *Client) do(ctx context.Context, method, endpoint string, query url.Values, body, out any) error {
	u := c.base + APIPrefix + endpoint
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("failed to encode %s request: %w", endpoint, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("failed to build %s request: %w", endpoint, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("failed to call %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("failed to read %s response: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := &APIError{StatusCode: resp.StatusCode}
		if json.Unmarshal(b, ae) != nil || ae.ErrorCode == "" {
			ae.ErrorCode = http.StatusText(resp.StatusCode)
			ae.Message = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("failed to call %s: %w", endpoint, ae)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("failed to decode %s response: %w", endpoint, err)
		}
	}
	return nil
}

// GetOrCreateExperiment returns the id of experiment name, creating it when
// missing (tolerating a concurrent creator).
func (c *Client) GetOrCreateExperiment(ctx context.Context, name string) (string, error) {
	id, err := c.experimentByName(ctx, name)
	if err == nil || !IsNotFound(err) {
		return id, err
	}
	var created struct {
		ExperimentID string `json:"experiment_id"`
	}
	err = c.do(ctx, http.MethodPost, "experiments/create", nil, map[string]string{"name": name}, &created)
	var ae *APIError
	if errors.As(err, &ae) && ae.ErrorCode == ErrorCodeAlreadyExists {
		return c.experimentByName(ctx, name)
	}
	return created.ExperimentID, err
}

func (c *Client) experimentByName(ctx context.Context, name string) (string, error) {
	var resp struct {
		Experiment Experiment `json:"experiment"`
	}
	if err := c.do(ctx, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &resp); err != nil {
		return "", err
	}
	return resp.Experiment.ExperimentID, nil
}

// CreateRun starts a RUNNING run in experiment expID.
func (c *Client) CreateRun(ctx context.Context, expID, runName string, tags map[string]string) (Run, error) {
	req := struct {
		ExperimentID string   `json:"experiment_id"`
		RunName      string   `json:"run_name,omitempty"`
		Tags         []RunTag `json:"tags,omitempty"`
	}{ExperimentID: expID, RunName: runName, Tags: tagList(tags)}
	var resp struct {
		Run Run `json:"run"`
	}
	if err := c.do(ctx, http.MethodPost, "runs/create", nil, req, &resp); err != nil {
		return Run{}, err
	}
	return resp.Run, nil
}

// LogBatch logs metrics (step 0, server time), params and tags in one call;
// the server applies all or none.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics map[string]float64, params map[string]string, tags map[string]string) error {
	req := struct {
		RunID   string   `json:"run_id"`
		Metrics []Metric `json:"metrics,omitempty"`
		Params  []Param  `json:"params,omitempty"`
		Tags    []RunTag `json:"tags,omitempty"`
	}{RunID: runID, Tags: tagList(tags)}
	for _, k := range sortedKeys(metrics) {
		req.Metrics = append(req.Metrics, Metric{Key: k, Value: metrics[k]})
	}
	for _, k := range sortedKeys(params) {
		req.Params = append(req.Params, Param{Key: k, Value: params[k]})
	}
	return c.do(ctx, http.MethodPost, "runs/log-batch", nil, req, nil)
}

// SetTag sets one run tag.
func (c *Client) SetTag(ctx context.Context, runID, key, value string) error {
	return c.do(ctx, http.MethodPost, "runs/set-tag", nil, map[string]string{"run_id": runID, "key": key, "value": value}, nil)
}

// UpdateRun sets the run's status (RUNNING, FINISHED, FAILED, …); terminal
// statuses set the end time.
func (c *Client) UpdateRun(ctx context.Context, runID, status string) error {
	return c.do(ctx, http.MethodPost, "runs/update", nil, map[string]string{"run_id": runID, "status": status}, nil)
}

// GetRun returns the run.
func (c *Client) GetRun(ctx context.Context, runID string) (Run, error) {
	var resp struct {
		Run Run `json:"run"`
	}
	if err := c.do(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, nil, &resp); err != nil {
		return Run{}, err
	}
	return resp.Run, nil
}

// SearchRuns returns every run of the experiments that matches filter (e.g.
// "tags.config_hash = 'abc' AND attributes.status = 'FINISHED'") in orderBy
// order (e.g. "metrics.rmse ASC"), following pages.
func (c *Client) SearchRuns(ctx context.Context, expIDs []string, filter string, orderBy []string) ([]Run, error) {
	var all []Run
	token := ""
	for {
		req := map[string]any{"experiment_ids": expIDs, "filter": filter, "order_by": orderBy, "page_token": token}
		var resp SearchResponse
		if err := c.do(ctx, http.MethodPost, "runs/search", nil, req, &resp); err != nil {
			return nil, err
		}
		all = append(all, resp.Runs...)
		if resp.NextPageToken == "" {
			return all, nil
		}
		token = resp.NextPageToken
	}
}

// ListArtifacts lists the direct children of path ("" for the root) in the
// run's artifact directory.
func (c *Client) ListArtifacts(ctx context.Context, runID, path string) ([]FileInfo, error) {
	var resp struct {
		Files []FileInfo `json:"files"`
	}
	q := url.Values{"run_id": {runID}}
	if path != "" {
		q.Set("path", path)
	}
	if err := c.do(ctx, http.MethodGet, "artifacts/list", q, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Files, nil
}

func tagList(tags map[string]string) []RunTag {
	var out []RunTag
	for _, k := range sortedKeys(tags) {
		out = append(out, RunTag{Key: k, Value: tags[k]})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
