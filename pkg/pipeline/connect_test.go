package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
)

// signalWriter closes seen the first time a write contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// A binary started before the broker waits for it: Connect retries the
// single dial of events.Connect (with backoff.Dependency) until the broker
// answers, and does not give up while it is down.
func TestConnectWaitsForTheBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logs := &signalWriter{want: "not ready yet", seen: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		conns *Conns
		err   error
	}
	res := make(chan result, 1)
	go func() {
		c, err := Connect(ctx, config.Common{NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port)}, Need{Bus: true}, log)
		res <- result{c, err}
	}()
	// The broker starts only after Connect has failed once.
	select {
	case <-logs.seen:
	case r := <-res:
		t.Fatalf("Connect returned before the broker existed: %v", r.err)
	}
	_, stop, err := events.StartEmbeddedOn(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := <-res
	if r.err != nil {
		t.Fatalf("Connect did not wait for the broker: %v", r.err)
	}
	r.conns.Close()
}
