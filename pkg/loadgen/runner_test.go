package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// instantSleep records every requested wait and returns at once, so tests
// bound runs by request count instead of the wall clock.
type instantSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *instantSleep) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func TestRunCountsOutcomesAndServedBy(t *testing.T) {
	var mu sync.Mutex
	n := 0
	served := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/predict" || string(body) != `{"inference_length":1}` ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		mu.Lock()
		i := n
		n++
		pod := fmt.Sprintf("inference-%d", i%3)
		status := []int{200, 429, 503, 400}[i%4]
		if status == http.StatusOK {
			served[pod]++
		}
		mu.Unlock()
		w.Header().Set("X-Served-By", pod)
		w.WriteHeader(status)
	}))
	defer srv.Close()

	sl := &instantSleep{}
	s, err := Run(context.Background(), Config{URL: srv.URL + "/predict", Users: 3, Duration: time.Minute,
		MaxRequests: 40}, withSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 40 || n != 40 {
		t.Fatalf("requests: summary %d, server %d, want 40", s.Requests, n)
	}
	if s.Successes != 10 || s.Throttled429 != 10 || s.Failures["http_5xx:503"] != 10 || s.Failures["http_4xx:400"] != 10 || s.FailureCount() != 20 {
		t.Errorf("successes %d, 429 %d, failures %v", s.Successes, s.Throttled429, s.Failures)
	}
	// 429s and failures carry X-Served-By too, but only 200s count.
	if len(s.ServedBy) != len(served) {
		t.Errorf("ServedBy = %v, server's 200s by pod %v", s.ServedBy, served)
	}
	for pod, c := range served {
		if s.ServedBy[pod] != c {
			t.Errorf("ServedBy[%s] = %d, server answered 200 %d times", pod, s.ServedBy[pod], c)
		}
	}
	if s.Model != "closed-loop" || s.Users != 3 || s.Histogram.Count() != 40 {
		t.Errorf("model %q users %d histogram count %d", s.Model, s.Users, s.Histogram.Count())
	}
	tl := 0
	for _, sec := range s.Timeline {
		tl += sec.Requests
	}
	if tl != 40 {
		t.Errorf("timeline holds %d requests, want 40", tl)
	}
	// Think time: default 1-2 s, one wait after every request.
	if len(sl.waits) < 40 {
		t.Errorf("%d think waits for 40 requests", len(sl.waits))
	}
	for _, w := range sl.waits {
		if w < time.Second || w > 2*time.Second {
			t.Errorf("think wait %s outside [1s, 2s]", w)
		}
	}
}

func TestRunClassifiesTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := Run(context.Background(), Config{URL: srv.URL, Users: 2, Duration: time.Minute, Timeout: 50 * time.Millisecond,
		MaxRequests: 4}, withSleep((&instantSleep{}).sleep))
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 4 || s.Failures["timeout"] != 4 {
		t.Fatalf("requests %d failures %v, want 4 timeouts", s.Requests, s.Failures)
	}
}

func TestRunClassifiesConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	s, err := Run(context.Background(), Config{URL: "http://" + addr + "/predict", Users: 1, Duration: time.Minute,
		MaxRequests: 3}, withSleep((&instantSleep{}).sleep))
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 3 || s.Failures["connection"] != 3 || s.Successes != 0 {
		t.Fatalf("requests %d failures %v", s.Requests, s.Failures)
	}
	if ex := s.FailureExamples["connection"]; !strings.Contains(ex, "connection refused") {
		t.Errorf("connection failure example %q lacks the error", ex)
	}
	if ex := s.FailureExamples["http_5xx:503"]; ex != "" {
		t.Errorf("unexpected example for a cause that did not occur: %q", ex)
	}
}

func TestRunMixedEndpoints(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.Method+" "+r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	s, err := Run(context.Background(), Config{URL: srv.URL + "/predict", Users: 4, Duration: time.Minute, Mix: MixMixed,
		MaxRequests: 1000, Seed: 7}, withSleep((&instantSleep{}).sleep))
	if err != nil {
		t.Fatal(err)
	}
	if s.Successes != 1000 || len(paths) != 3 {
		t.Fatalf("successes %d, paths %v", s.Successes, paths)
	}
	if p := paths["POST /predict"]; p < 720 || p > 880 {
		t.Errorf("predict share %d/1000, want about 800", p)
	}
	for _, k := range []string{"GET /healthz", "GET /ready"} {
		if paths[k] < 50 || paths[k] > 150 {
			t.Errorf("%s share %d/1000, want about 100", k, paths[k])
		}
	}
}

func TestRunRampUpDelays(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	sl := &instantSleep{}
	_, err := Run(context.Background(), Config{URL: srv.URL, Users: 5, Duration: 200 * time.Second, RampUp: 100 * time.Second,
		MaxRequests: 5}, withSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	starts := map[time.Duration]bool{}
	for _, w := range sl.waits {
		if w > 2*time.Second {
			starts[w] = true
		}
	}
	for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 60 * time.Second, 80 * time.Second} {
		if !starts[want] {
			t.Errorf("no user started after %s; start delays %v", want, starts)
		}
	}
	if len(starts) != 4 {
		t.Errorf("start delays %v, want 4 (user 0 starts at once)", starts)
	}
}

func TestRunStopsByItself(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); n++; mu.Unlock() }))
	defer srv.Close()
	const users, think = 3, 20 * time.Millisecond
	duration := 300 * time.Millisecond
	s, err := Run(context.Background(), Config{URL: srv.URL, Users: users, Duration: duration, ThinkMin: think, ThinkMax: think})
	if err != nil {
		t.Fatal(err)
	}
	// Each user sends at most one request per think period (+1 at the start).
	bound := users * (int(duration/think) + 1)
	if s.Requests == 0 || s.Requests > bound || s.Requests != n {
		t.Fatalf("requests %d (server %d), want 1..%d", s.Requests, n, bound)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{
		{URL: "", Users: 1, Duration: time.Second},
		{URL: "ftp://x", Users: 1, Duration: time.Second},
		{URL: "http://127.0.0.1:1", Users: 0, Duration: time.Second},
		{URL: "http://127.0.0.1:1", Users: 1, Duration: 0},
		{URL: "http://127.0.0.1:1", Users: 1, Duration: time.Second, RampUp: 2 * time.Second},
		{URL: "http://127.0.0.1:1", Users: 1, Duration: time.Second, ThinkMin: 2 * time.Second, ThinkMax: time.Second},
		{URL: "http://127.0.0.1:1", Users: 1, Duration: time.Second, Mix: "80/20"},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("config %+v: want an error", c)
		}
	}
}

func TestWithStopEndsTheRunEarlyAndKeepsItsResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "inference-0")
	}))
	defer srv.Close()
	stop := make(chan struct{})
	done := make(chan Summary)
	go func() {
		s, err := Run(context.Background(), Config{URL: srv.URL + "/predict", Users: 2, Duration: time.Hour,
			ThinkMin: time.Millisecond, ThinkMax: time.Millisecond}, WithStop(stop))
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	s := <-done
	if s.Requests == 0 || s.FailureCount() != 0 || s.ServedBy["inference-0"] != s.Successes {
		t.Fatalf("stopped run: %d requests, failures %v, served_by %v", s.Requests, s.Failures, s.ServedBy)
	}
}
