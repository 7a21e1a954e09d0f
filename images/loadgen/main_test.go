package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/loadgen"
)

func env(m map[string]string) config.Getenv { return config.MapEnv(m) }

func TestShareGivesRemainderToFirstWorkers(t *testing.T) {
	got, sum := []int{}, 0
	for i := range 4 {
		got = append(got, share(10, 4, i))
		sum += share(10, 4, i)
	}
	if sum != 10 || got[0] != 3 || got[1] != 3 || got[2] != 2 || got[3] != 2 {
		t.Fatalf("share(10 users, 4 workers) = %v", got)
	}
}

func TestRunPrintsResultLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "inference-x")
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	// 7 users over 3 workers: index 0 (from the Job's env) gets 3.
	code := run(context.Background(), []string{"run", "--url", srv.URL + "/predict", "--users", "7", "--workers", "3",
		"--duration", "30s", "--think-min", "1ms", "--think-max", "2ms", "--max-requests", "12"},
		env(map[string]string{"JOB_COMPLETION_INDEX": "0"}), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, loadgen.ResultPrefix) {
			t.Fatalf("stdout must hold result lines only, got %q", l)
		}
	}
	s, err := loadgen.ReadResult(&out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Users != 3 || s.Requests != 12 || s.ServedBy["inference-x"] != 12 || s.Model != "closed-loop" {
		t.Errorf("summary users %d requests %d servedBy %v model %q", s.Users, s.Requests, s.ServedBy, s.Model)
	}
	if !strings.Contains(errb.String(), `"msg":"starting load"`) {
		t.Errorf("logs must go to stderr as JSON, got %q", errb.String())
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"fly"},
		{"run", "--users", "0"},
		{"run", "--users", "5", "--workers", "2", "--worker-index", "2"},
		{"run", "--users", "5", "--mix", "90/10"},
		{"run", "--users", "5", "--duration", "soon"},
		{"run", "--users", "5", "--think-min", "3s", "--think-max", "1s"},
		{"check", "--url", "inference:8000"},
		{"check", "--requests", "0"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, env(nil), &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"run", "--users", "2"}, env(map[string]string{"JOB_COMPLETION_INDEX": "x"}), &out, &errb); code != 2 {
		t.Errorf("bad JOB_COMPLETION_INDEX: exit %d", code)
	}
}

func TestCheck(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/predict" && r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check", "--url", srv.URL + "/predict", "--requests", "2"}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("healthy predict: exit %d: %s %s", code, out.String(), errb.String())
	}
	if strings.Count(out.String(), "status 200 (want 200)") != 2 {
		t.Errorf("check must print what it saw, got %q", out.String())
	}
	ready.Store(false)
	out.Reset()
	if code := run(context.Background(), []string{"check", "--url", srv.URL + "/ready"}, env(nil), &out, &errb); code != 1 {
		t.Errorf("503 answers: exit %d, want 1", code)
	}
	if code := run(context.Background(), []string{"check", "--url", srv.URL + "/ready", "--expect-status", "503"}, env(nil), &out, &errb); code != 0 {
		t.Errorf("503 expected and got: exit %d", code)
	}
}
