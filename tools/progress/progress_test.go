package progress

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the heartbeat goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStepReportsUntilDone(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	s := Start(log, "compile kubernetes", time.Millisecond)
	s.Count("packages", 3)
	fmt.Fprint(s.GoPackages(), "k8s.io/api/core/v1\n# k8s.io/broken\nbroken.go:1:2: undefined: x\ngo: downloading k8s.io/api v0.34.4\nk8s.io/kubernetes/cmd/kubelet\n")
	// Wait for at least one heartbeat carrying the count; no wall-clock
	// assertion, only that one arrives.
	for !strings.Contains(out.String(), "packages=2/3") {
		time.Sleep(time.Millisecond)
	}
	s.Done()
	s.Done()
	got := out.String()
	if !strings.Contains(got, `msg="compile kubernetes ..."`) {
		t.Errorf("no start line:\n%s", got)
	}
	if !strings.Contains(got, `msg="compile kubernetes still running"`) {
		t.Errorf("no heartbeat:\n%s", got)
	}
	if n := strings.Count(got, `msg="compile kubernetes done"`); n != 1 {
		t.Errorf("want one done line, got %d:\n%s", n, got)
	}
	before := got
	time.Sleep(10 * time.Millisecond)
	if out.String() != before {
		t.Errorf("heartbeat went on after Done:\n%s", out.String()[len(before):])
	}
}

func TestCountWithoutTotal(t *testing.T) {
	s := &Step{}
	if got := s.count(); got != "" {
		t.Errorf("count before any = %q, want empty", got)
	}
	s.Add(5)
	if got := s.count(); got != "5" {
		t.Errorf("count = %q, want 5", got)
	}
	s.Count("packages", 9)
	if got := s.count(); got != "5/9" {
		t.Errorf("count = %q, want 5/9", got)
	}
}

func TestIsPackageLine(t *testing.T) {
	for line, want := range map[string]bool{
		"k8s.io/kubernetes/cmd/kubelet":      true,
		"runtime":                            true,
		"# k8s.io/broken":                    false,
		"broken.go:1:2: undefined: x":        false,
		"go: downloading k8s.io/api v0.34.4": false,
		"":                                   false,
	} {
		if got := IsPackageLine(line); got != want {
			t.Errorf("IsPackageLine(%q) = %v, want %v", line, got, want)
		}
	}
}
