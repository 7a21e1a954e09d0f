// Package testlog gives tests a logger that writes to the test's own output,
// so a failing test shows what the code under test logged.
package testlog

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// New returns a logger writing to t's output (shown with -v or on failure).
// Lines logged after the test ended (a client callback running late) are
// dropped: writing them to the test would panic.
func New(t testing.TB) *slog.Logger {
	w := &writer{w: t.Output()}
	t.Cleanup(w.close) // registered first: runs after every other cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type writer struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
