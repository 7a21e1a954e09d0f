package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/inference"
)

func TestModelRunHeaderMatchesTheServer(t *testing.T) {
	if ModelRunHeader != inference.ModelRunHeader {
		t.Fatalf("loadgen reads %q, the inference server writes %q", ModelRunHeader, inference.ModelRunHeader)
	}
}

// A pod that switches from run-a to run-b once is followed per pod, and no
// mixing is reported.
func TestRunFollowsModelSwitchesPerPod(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		run := "run-a"
		if n.Add(1) > 20 {
			run = "run-b"
		}
		w.Header().Set("X-Served-By", "inference-0")
		w.Header().Set(ModelRunHeader, run)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	sl := &instantSleep{}
	s, err := Run(context.Background(), Config{URL: srv.URL + "/predict", Users: 1, Duration: time.Minute, MaxRequests: 30}, withSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	runs := s.ServedModels["inference-0"]
	if runs["run-a"].Answers != 20 || runs["run-b"].Answers != 10 {
		t.Fatalf("ServedModels = %+v, want 20 answers from run-a then 10 from run-b", s.ServedModels)
	}
	if mixed := s.MixedModels(); len(mixed) != 0 {
		t.Errorf("a clean switch reported as mixed: %v", mixed)
	}
}

func TestMixedModels(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name  string
		runs  map[string]ModelSpan
		mixed bool
	}{
		{"one run", map[string]ModelSpan{"a": {Answers: 5, FirstAnswered: at(1), LastSent: at(9)}}, false},
		// A request sent before the pod's first answer from b may still
		// finish on a: it was admitted before the switch.
		{"old answer sent before the switch", map[string]ModelSpan{
			"a": {Answers: 5, FirstAnswered: at(1), LastSent: at(4)},
			"b": {Answers: 5, FirstAnswered: at(5), LastSent: at(9)}}, false},
		{"old answer sent after the switch", map[string]ModelSpan{
			"a": {Answers: 5, FirstAnswered: at(1), LastSent: at(6)},
			"b": {Answers: 5, FirstAnswered: at(5), LastSent: at(9)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summary{ServedModels: map[string]map[string]ModelSpan{"inference-0": tc.runs}}
			mixed := s.MixedModels()
			if (len(mixed) > 0) != tc.mixed {
				t.Fatalf("MixedModels() = %v, want mixed=%v", mixed, tc.mixed)
			}
			if tc.mixed && !strings.Contains(mixed[0], "pod inference-0") {
				t.Errorf("message %q does not name the pod", mixed[0])
			}
		})
	}
}

// Merging two generators' spans keeps the earliest first answer and the
// latest send, so a mix seen only across generators is still found.
func TestMergeServedModels(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	a := Summary{ServedModels: map[string]map[string]ModelSpan{"p": {
		"old": {Answers: 3, FirstAnswered: t0, LastSent: t0.Add(2 * time.Second)},
		"new": {Answers: 1, FirstAnswered: t0.Add(5 * time.Second), LastSent: t0.Add(5 * time.Second)}}}}
	b := Summary{ServedModels: map[string]map[string]ModelSpan{"p": {
		"old": {Answers: 2, FirstAnswered: t0.Add(time.Second), LastSent: t0.Add(7 * time.Second)}}}}
	m := Merge(a, b)
	old := m.ServedModels["p"]["old"]
	if old.Answers != 5 || !old.FirstAnswered.Equal(t0) || !old.LastSent.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("merged span %+v", old)
	}
	if len(m.MixedModels()) != 1 {
		t.Errorf("the mix across generators was not found: %v", m.MixedModels())
	}
}

// Merging in an empty span keeps the other's times (a zero FirstAnswered
// would make every run look first).
func TestModelSpanMergeWithEmpty(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	span := ModelSpan{Answers: 2, FirstAnswered: t0, LastSent: t0.Add(time.Second)}
	if got := span.merge(ModelSpan{}); got != span {
		t.Errorf("span.merge(empty) = %+v, want %+v", got, span)
	}
	if got := (ModelSpan{}).merge(span); got != span {
		t.Errorf("empty.merge(span) = %+v, want %+v", got, span)
	}
}
