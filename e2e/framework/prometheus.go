package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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

// Query evaluates an instant PromQL query that returns a vector.
func (c *PrometheusClient) Query(ctx context.Context, query string) ([]PromSample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := c.get(ctx, "/api/v1/query?query="+url.QueryEscape(query), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q returned a %s, want a vector", query, data.ResultType)
	}
	out := make([]PromSample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", query, r.Value[1], err)
		}
		out = append(out, PromSample{Metric: r.Metric, Value: v})
	}
	return out, nil
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
