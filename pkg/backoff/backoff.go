// Package backoff is the pipeline's one way to wait for something that is
// not there yet (a dependency starting or restarting, a consumer the
// broker lost): capped exponential delays with named policies, and Retry,
// which logs every failed attempt so a wait is visible. Retries in pkg/
// use it (the model watcher uses its Delays, since it also wakes on an
// event), and no retry wraps another.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Policy is a capped exponential backoff: Initial, doubling up to Max.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
}

var (
	// Dependency is for a binary waiting for the object store, the broker
	// or the tracking server, at start or while one restarts: the first
	// retry is quick (a dependency that starts alongside is usually up
	// within a second), later ones no more often than every 10 s, so a
	// long outage costs little and its end is still noticed within 10 s.
	Dependency = Policy{Initial: 500 * time.Millisecond, Max: 10 * time.Second}
	// Consumer is for re-creating a NATS consumer the server lost: the
	// broker is up (the connection reconnects by itself), so retry fast.
	Consumer = Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
)

// Delays yields the policy's delays one by one.
type Delays struct {
	p    Policy
	next time.Duration
}

// Start returns the delays of p from its first.
func (p Policy) Start() *Delays { return &Delays{p: p, next: p.Initial} }

// Next returns the delay to wait now and advances to the following one.
func (d *Delays) Next() time.Duration {
	cur := d.next
	d.next = min(2*d.next, d.p.Max)
	return cur
}

// Retry calls op until it returns nil or ctx is done, waiting p's delays in
// between and logging each failure with what, the attempt and the delay.
// Giving up returns op's last error together with ctx's.
func Retry(ctx context.Context, log *slog.Logger, what string, p Policy, op func(context.Context) error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	delays := p.Start()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info(what+": ready", "attempts", attempt)
			}
			return nil
		}
		wait := delays.Next()
		log.Info(what+": not ready yet", "attempt", attempt, "retry_in", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting for %s after %d attempts: %w", what, attempt, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}
