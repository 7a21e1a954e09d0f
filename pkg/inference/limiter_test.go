package inference

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestLimiterFailsFastWhenQueueFull(t *testing.T) {
	l := NewLimiter(1, 1)
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(context.Background())
		if err == nil {
			r()
		}
		got <- err
	}()
	for l.QueueLength() != 1 {
		runtime.Gosched()
	}
	if _, err := l.Acquire(context.Background()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third acquire: got %v, want ErrQueueFull", err)
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("queued acquire: %v", err)
	}
	if l.InFlight() != 0 || l.QueueLength() != 0 {
		t.Fatalf("limiter not empty: in-flight %d queued %d", l.InFlight(), l.QueueLength())
	}
}

func TestLimiterQueuedAcquireHonoursContext(t *testing.T) {
	l := NewLimiter(1, 4)
	release, _ := l.Acquire(context.Background())
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if l.QueueLength() != 0 {
		t.Fatalf("queue length %d after cancelled wait", l.QueueLength())
	}
}
