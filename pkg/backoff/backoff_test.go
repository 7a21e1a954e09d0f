package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelaysDoubleUpToMax(t *testing.T) {
	d := Policy{Initial: time.Second, Max: 5 * time.Second}.Start()
	var got []time.Duration
	for range 5 {
		got = append(got, d.Next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
}

func TestRetryUntilSuccess(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), nil, "thing", Policy{Initial: time.Microsecond, Max: time.Microsecond}, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("down")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestRetryGivesUpWithBothErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	down := errors.New("connection refused")
	err := Retry(ctx, nil, "thing", Policy{Initial: time.Hour, Max: time.Hour}, func(context.Context) error {
		cancel()
		return down
	})
	if !errors.Is(err, down) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v, want the last error and the cancellation", err)
	}
}
