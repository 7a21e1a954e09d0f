package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
)

func TestBadConfigExitsTwo(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--s3-access-key and --s3-secret-key"},
		{[]string{"--s3-access-key", "a"}, nil, "--s3-access-key and --s3-secret-key"},
		{[]string{"--nope"}, nil, "flag provided but not defined"},
		{nil, map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b", "FLTS_LOG_LEVEL": "loud"}, "--log-level"},
		{[]string{"--store-dir", "/x", "--s3-secure=maybe"}, nil, "-s3-secure"},
		{[]string{"--store-dir", "/x"}, map[string]string{"FLTS_S3_SECURE": "yes"}, `FLTS_S3_SECURE="yes" is not a boolean`},
		{[]string{"--store-dir", "/x"}, map[string]string{"FLTS_TRACKING_MAX_BODY_BYTES": "1MB"}, "FLTS_TRACKING_MAX_BODY_BYTES"},
		{[]string{"--store-dir", "/x", "--max-body-bytes", "-1"}, nil, "--max-body-bytes"},
		{[]string{"--store-dir", "/x", "extra"}, nil, "unexpected arguments"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		if code := command().Exec(context.Background(), c.args, config.MapEnv(c.env), &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("Exec(%q, %v) = %d, stderr %q; want 2 mentioning %q", c.args, c.env, code, stderr.String(), c.want)
		}
	}
}

func TestEnvDefaults(t *testing.T) {
	cfg, err := parseConfig(nil, config.MapEnv(map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b", "FLTS_S3_ENDPOINT": "m:1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != ":5000" || cfg.s3Endpoint != "m:1" || cfg.s3AccessKey != "a" || cfg.logLevel != slog.LevelInfo {
		t.Fatalf("config = %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--s3-endpoint", "flag:2", "--s3-access-key", "x", "--s3-secret-key", "y"}, config.MapEnv(map[string]string{"FLTS_S3_ENDPOINT": "m:1"}), io.Discard)
	if err != nil || cfg.s3Endpoint != "flag:2" {
		t.Fatalf("flag did not override env: %+v, %v", cfg, err)
	}
}

// TestServesWithDirStoreAndShutsDown runs the real serve loop on a loopback
// port with a directory store and stops it through its context.
func TestServesWithDirStoreAndShutsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, err := parseConfig([]string{"--listen", addr, "--store-dir", t.TempDir()}, config.MapEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	}()
	url := fmt.Sprintf("http://%s/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if !strings.Contains(string(body), `"experiment_id":"0"`) {
					t.Fatalf("default experiment = %s", body)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not serving the default experiment: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadyGateAnswers503UntilReady(t *testing.T) {
	var ready atomic.Bool
	h := readyGate(&ready, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"status":"starting"`) {
		t.Fatalf("before ready: %d %q", rec.Code, rec.Body.String())
	}
	// Liveness passes while the store is awaited: no restart for waiting.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("/healthz before ready: %d, want the wrapped handler's 418", rec.Code)
	}
	ready.Store(true)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("after ready: %d, want the wrapped handler's 418", rec.Code)
	}
}
