package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ServedByHeader names the pod that served a response.
const ServedByHeader = "X-Served-By"

// Health is the inference API's /healthz body.
type Health struct {
	Status         string `json:"status"`
	Service        string `json:"service"`
	ModelReady     bool   `json:"model_ready"`
	QueueLength    int    `json:"queue_length"`
	StartupReadyMS *int64 `json:"startup_ready_ms"`
	Pod            string `json:"pod"`
	ModelVersion   string `json:"model_version"`
	ModelType      string `json:"model_type"`
}

// Prediction is the inference API's successful /predict body.
type Prediction struct {
	Status      string           `json:"status"`
	RunID       string           `json:"run_id"`
	ModelType   string           `json:"model_type"`
	Predictions []map[string]any `json:"predictions"`
	ReqID       string           `json:"req_id"`
}

// InferenceClient calls the inference API from outside the cluster.
type InferenceClient struct {
	BaseURL string
	HTTP    *http.Client
}

// NewInferenceClient calls the inference API at baseURL. A nil transport
// opens a new connection per request, so kube-proxy picks a backend per
// request as separate clients would (keep-alive would pin one client to one
// pod). Through the API server's service proxy (transport authenticated
// against it) the API server picks an endpoint per request instead.
func NewInferenceClient(baseURL string, transport http.RoundTripper) *InferenceClient {
	if transport == nil {
		transport = &http.Transport{DisableKeepAlives: true}
	}
	return &InferenceClient{
		BaseURL: baseURL,
		HTTP:    &http.Client{Timeout: 10 * time.Second, Transport: transport},
	}
}

// Response is a decoded reply with the serving pod.
type Response struct {
	Status   int
	ServedBy string
	Body     []byte
}

// Do sends one request.
func (c *InferenceClient) Do(ctx context.Context, method, path string, body any) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, fmt.Errorf("failed to encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return Response{}, fmt.Errorf("failed to build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("failed to call %s %s: %w", method, c.BaseURL+path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("failed to read %s %s response: %w", method, path, err)
	}
	return Response{Status: resp.StatusCode, ServedBy: resp.Header.Get(ServedByHeader), Body: b}, nil
}

// Health calls GET /healthz.
func (c *InferenceClient) Health(ctx context.Context) (Health, Response, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/healthz", nil)
	if err != nil {
		return Health{}, resp, err
	}
	var h Health
	if err := json.Unmarshal(resp.Body, &h); err != nil {
		return h, resp, fmt.Errorf("failed to decode /healthz body %q: %w", resp.Body, err)
	}
	return h, resp, nil
}

// Predict calls POST /predict with inference_length n.
func (c *InferenceClient) Predict(ctx context.Context, n int) (Prediction, Response, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/predict", map[string]any{"inference_length": n})
	if err != nil {
		return Prediction{}, resp, err
	}
	var p Prediction
	if resp.Status == http.StatusOK {
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			return p, resp, fmt.Errorf("failed to decode /predict body %q: %w", resp.Body, err)
		}
	}
	return p, resp, nil
}
