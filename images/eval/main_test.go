package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

var env = config.MapEnv(map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b"})

func TestParse(t *testing.T) {
	if o, err := parse(nil, env, io.Discard); err != nil || o.listen != ":8080" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	if _, err := parse([]string{"--listen", "8080"}, env, io.Discard); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("bad listen accepted: %v", err)
	}
}

func TestPromotionEndpoint(t *testing.T) {
	ctx := context.Background()
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := objstore.EnsureBuckets(ctx, store, objstore.AllBuckets...); err != nil {
		t.Fatal(err)
	}
	var reader objstore.Reader
	readyErr := errors.New("object store: connection refused")
	var metrics http.Handler
	ts := httptest.NewServer(handler(func() objstore.Reader { return reader }, func() http.Handler { return metrics },
		func(context.Context) error { return readyErr }))
	defer ts.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/promotion"); code != 503 {
		t.Fatalf("before the store: %d", code)
	}
	if code, body := get("/metrics"); code != 503 || !strings.Contains(body, "not connected") {
		t.Fatalf("/metrics before the dependencies = %d %s, want 503", code, body)
	}
	if code, body := get("/ready"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Fatalf("/ready with a dependency down = %d %s, want 503 naming it", code, body)
	}
	readyErr = nil
	if code, body := get("/ready"); code != 200 {
		t.Fatalf("/ready with every dependency up = %d %s", code, body)
	}
	reader = store
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := get("/promotion"); code != 404 {
		t.Fatalf("before any promotion: %d", code)
	}
	if err := store.Put(ctx, objstore.BucketModelPromotion, "current.json", []byte(`{"run_id":"r1"}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/promotion"); code != 200 || !strings.Contains(body, `"r1"`) {
		t.Fatalf("after promotion: %d %s", code, body)
	}
	metrics = promhttp.HandlerFor(pipeline.NewMetrics(store, noDeadLetters{}, time.Second, slog.New(slog.DiscardHandler)).Registry, promhttp.HandlerOpts{})
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `flts_pipeline_promotion_info{config_hash="",model_type="",run_id="r1"} 1`) {
		t.Fatalf("/metrics after promotion = %d %s, want the promotion", code, body)
	}
}

func TestParseDLQCommands(t *testing.T) {
	for _, ok := range [][]string{{"dlq", "list"}, {"dlq", "list", "model-training", "training-data"}, {"dlq", "redrive", "training-data"}} {
		o, err := parse(ok, env, io.Discard)
		if err != nil || len(o.dlq) != len(ok)-1 {
			t.Errorf("%q: %+v %v", ok, o.dlq, err)
		}
	}
	for bad, want := range map[string]string{
		"dlq":                         "missing command",
		"dlq purge":                   `unknown command "purge"`,
		"dlq redrive":                 "exactly one topic",
		"dlq redrive a b":             `unknown topic "a"`,
		"dlq list nope":               `unknown topic "nope"`,
		"serve":                       "the only command is dlq",
		"dlq redrive training-data x": `unknown topic "x"`,
	} {
		if _, err := parse(strings.Fields(bad), env, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", bad, err, want)
		}
	}
}

type noDeadLetters struct{}

func (noDeadLetters) DeadLetterCounts(context.Context) (map[string]int, error) {
	return map[string]int{}, nil
}
