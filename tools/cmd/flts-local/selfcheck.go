package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
)

// selfCheck serves the API briefly and checks that one POST /predict
// returns every KPI as a finite number. It returns the response body.
func selfCheck(ctx context.Context, l *local) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- l.serve(ctx) }()
	defer func() { cancel(); <-served }()
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Post("http://"+l.api.Addr().String()+"/predict?inference_length=2", "application/json", strings.NewReader(`{}`))
	if err != nil {
		return nil, fmt.Errorf("failed to call /predict: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to read the /predict response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("/predict answered %d: %s", resp.StatusCode, body)
	}
	var r struct {
		Status      string           `json:"status"`
		RunID       string           `json:"run_id"`
		Predictions []map[string]any `json:"predictions"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return body, fmt.Errorf("failed to decode the /predict response: %w", err)
	}
	if r.Status != "SUCCESS" || r.RunID != l.promotion.RunID || len(r.Predictions) != 2 {
		return body, fmt.Errorf("unexpected /predict response (want SUCCESS, run %s, 2 steps)", l.promotion.RunID)
	}
	for i, p := range r.Predictions {
		for _, kpi := range dataset.KPIs() {
			n, ok := p[kpi].(json.Number)
			v, err := n.Float64()
			if !ok || err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return body, fmt.Errorf("step %d: KPI %s is %v, not a finite number", i+1, kpi, p[kpi])
			}
		}
	}
	return body, nil
}
