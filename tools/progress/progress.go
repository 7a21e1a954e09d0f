// Package progress keeps long steps from looking hung. A Step logs its start,
// then a heartbeat with the elapsed time (and a count, when the step can
// tell one) at a fixed interval, then its end. Builds run with no deadline of
// their own, so this heartbeat is what tells a user a cold run is working.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often a running step reports. It stays under 30 s so a
// terminal is never silent for longer than that.
const Interval = 20 * time.Second

// Step is one long-running step with a heartbeat.
type Step struct {
	log   *slog.Logger
	name  string
	unit  string
	start time.Time
	done  atomic.Int64
	total atomic.Int64
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// Start logs "name ..." and reports every interval until Done. An interval
// of 0 means Interval.
func Start(log *slog.Logger, name string, interval time.Duration) *Step {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = Interval
	}
	s := &Step{log: log, name: name, start: time.Now(), stop: make(chan struct{})}
	log.Info(name + " ...")
	s.wg.Add(1)
	go s.beat(interval)
	return s
}

func (s *Step) beat(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			args := []any{"elapsed", s.Elapsed().Round(time.Second)}
			if c := s.count(); c != "" {
				args = append(args, s.unit, c)
			}
			s.log.Info(s.name+" still running", args...)
		}
	}
}

// count renders "done/total", "done" without a total, or "" before any.
func (s *Step) count() string {
	d, t := s.done.Load(), s.total.Load()
	switch {
	case t > 0:
		return fmt.Sprintf("%d/%d", d, t)
	case d > 0:
		return fmt.Sprint(d)
	}
	return ""
}

// Count names the unit the step counts ("packages") and its total, 0 when
// unknown.
func (s *Step) Count(unit string, total int) {
	s.unit = unit
	s.total.Store(int64(total))
}

// Add records n more units done.
func (s *Step) Add(n int) { s.done.Add(int64(n)) }

// Elapsed is the time since Start.
func (s *Step) Elapsed() time.Duration { return time.Since(s.start) }

// Done stops the heartbeat and logs the step's end with its elapsed time.
// Only the first call logs.
func (s *Step) Done() time.Duration {
	elapsed := s.Elapsed()
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.log.Info(s.name+" done", "elapsed", elapsed.Round(100*time.Millisecond))
	})
	return elapsed
}

// Stop ends the heartbeat without logging an end (for a step that failed:
// its error says the rest).
func (s *Step) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
	})
}

// GoPackages returns a writer for the standard error of `go build -v` or
// `go install -v`: each line naming a package (an import path, no spaces)
// counts as one package compiled. Other lines are ignored: the command's
// own error keeps them.
func (s *Step) GoPackages() io.Writer { return &lineCounter{step: s} }

type lineCounter struct {
	step *Step
	mu   sync.Mutex
	rest []byte
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		if IsPackageLine(string(w.rest[:i])) {
			w.step.Add(1)
		}
		w.rest = w.rest[i+1:]
	}
}

// IsPackageLine reports whether a line of `go build -v` output names a
// package rather than being a diagnostic ("# pkg", "file.go:1:2: msg",
// "go: downloading m v").
func IsPackageLine(line string) bool {
	line = strings.TrimSpace(line)
	return line != "" && !strings.ContainsAny(line, " \t:#")
}
