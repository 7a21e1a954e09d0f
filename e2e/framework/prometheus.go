package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/flts/flts-e2e/e2e/framework/report"
)

// PrometheusClient reads the chart's Prometheus through its HTTP API (no UI
// is built in; see images/prometheus).
type PrometheusClient struct {
	BaseURL string
	HTTP    *http.Client
}

// PromTarget is an active scrape target.
type PromTarget struct {
	Labels         map[string]string `json:"labels"`
	ScrapePool     string            `json:"scrapePool"`
	Health         string            `json:"health"`
	LastError      string            `json:"lastError"`
	ScrapeInterval string            `json:"scrapeInterval"`
}

// PromRuleGroup is a loaded rule group with its rules' names and health.
type PromRuleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
		State     string `json:"state"`
	} `json:"rules"`
}

// PromSample is one series of an instant vector.
type PromSample struct {
	Metric map[string]string
	Value  float64
}

// Targets returns the active targets.
func (c *PrometheusClient) Targets(ctx context.Context) ([]PromTarget, error) {
	var data struct {
		ActiveTargets []PromTarget `json:"activeTargets"`
	}
	return data.ActiveTargets, c.get(ctx, "/api/v1/targets?state=active", &data)
}

// RuleGroups returns the loaded rule groups.
func (c *PrometheusClient) RuleGroups(ctx context.Context) ([]PromRuleGroup, error) {
	var data struct {
		Groups []PromRuleGroup `json:"groups"`
	}
	return data.Groups, c.get(ctx, "/api/v1/rules", &data)
}

// Query evaluates an instant PromQL query that returns a vector, now.
func (c *PrometheusClient) Query(ctx context.Context, query string) ([]PromSample, error) {
	return c.QueryAt(ctx, query, time.Time{})
}

// QueryAt evaluates an instant PromQL query that returns a vector at t
// (now if t is zero).
func (c *PrometheusClient) QueryAt(ctx context.Context, query string, t time.Time) ([]PromSample, error) {
	params := url.Values{"query": {query}}
	if !t.IsZero() {
		params.Set("time", formatPromTime(t))
	}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  PromPoint         `json:"value"`
		} `json:"result"`
	}
	if err := c.get(ctx, "/api/v1/query?"+params.Encode(), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q returned a %s, want a vector", query, data.ResultType)
	}
	out := make([]PromSample, 0, len(data.Result))
	for _, r := range data.Result {
		out = append(out, PromSample{Metric: r.Metric, Value: r.Value.V})
	}
	return out, nil
}

// PromSeries is one series of a range query.
type PromSeries struct {
	Metric map[string]string
	Points []PromPoint
}

// PromPoint is one value of a series at a time; it decodes the API's
// [unix seconds, "value"] pair.
type PromPoint struct {
	T time.Time
	V float64
}

// QueryRange evaluates a PromQL range query from start to end every step.
func (c *PrometheusClient) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]PromSeries, error) {
	params := url.Values{"query": {query}, "start": {formatPromTime(start)}, "end": {formatPromTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values []PromPoint       `json:"values"`
		} `json:"result"`
	}
	if err := c.get(ctx, "/api/v1/query_range?"+params.Encode(), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" {
		return nil, fmt.Errorf("range query %q returned a %s, want a matrix", query, data.ResultType)
	}
	out := make([]PromSeries, 0, len(data.Result))
	for _, r := range data.Result {
		out = append(out, PromSeries{Metric: r.Metric, Points: r.Values})
	}
	return out, nil
}

// PromAlert is an active (pending or firing) alert.
type PromAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
}

// Alerts returns the active alerts; a resolved alert is no longer listed.
func (c *PrometheusClient) Alerts(ctx context.Context) ([]PromAlert, error) {
	var data struct {
		Alerts []PromAlert `json:"alerts"`
	}
	return data.Alerts, c.get(ctx, "/api/v1/alerts", &data)
}

// UnmarshalJSON decodes [unix seconds, "value"].
func (p *PromPoint) UnmarshalJSON(b []byte) error {
	var raw [2]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("failed to decode a sample %s: %w", b, err)
	}
	ts, ok := raw[0].(float64)
	s, ok2 := raw[1].(string)
	if !ok || !ok2 {
		return fmt.Errorf("sample %s is not [time, \"value\"]", b)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("sample %s: %w", b, err)
	}
	p.T, p.V = time.Unix(0, int64(ts*1e9)), v
	return nil
}

func formatPromTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// get decodes the data of an API response ({"status":"success","data":…}).
func (c *PrometheusClient) get(ctx context.Context, path string, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return fmt.Errorf("failed to build GET %s: %w", path, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("failed to GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("failed to read GET %s: %w", path, err)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode != http.StatusOK || env.Status != "success" {
		return fmt.Errorf("GET %s: HTTP %d, status %q, error %q (decode: %v): %.200s", path, resp.StatusCode, env.Status, env.Error, err, body)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("failed to decode GET %s data: %w", path, err)
	}
	return nil
}

// AlertWatcher polls Prometheus' active alerts and records each change of
// one alert's state: "pending", "firing", or "inactive" once it is no
// longer listed (and at the start, when it is not active).
type AlertWatcher struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu          sync.Mutex
	transitions []report.AlertState
	failed      int
	firstErr    error
}

// WatchAlert starts an AlertWatcher of the alert named name, polling
// every period until Stop or ctx ends.
func WatchAlert(ctx context.Context, c *PrometheusClient, name string, period time.Duration) *AlertWatcher {
	w := &AlertWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		state := "inactive"
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			alerts, err := c.Alerts(ctx)
			w.mu.Lock()
			if err != nil {
				w.failed++
				if w.firstErr == nil {
					w.firstErr = err
				}
			} else {
				now := "inactive"
				for _, a := range alerts {
					// Firing wins over pending when several series exist.
					if a.Labels["alertname"] == name && (now == "inactive" || a.State == "firing") {
						now = a.State
					}
				}
				if now != state || len(w.transitions) == 0 {
					w.transitions = append(w.transitions, report.AlertState{T: time.Now(), State: now})
					state = now
				}
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Transitions returns the changes seen so far; a poll that failed
// (counted in Failed) may have hidden a short-lived state.
func (w *AlertWatcher) Transitions() []report.AlertState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.transitions)
}

// Failed returns how many polls failed and the first one's error.
func (w *AlertWatcher) Failed() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed, w.firstErr
}

// Stop ends the polling and returns the changes seen; it may be called
// more than once.
func (w *AlertWatcher) Stop() []report.AlertState {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	return w.Transitions()
}
