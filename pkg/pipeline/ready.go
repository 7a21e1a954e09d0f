package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flts/flts-e2e/pkg/objstore"
)

// readyTimeout bounds each dependency's check: a probe must answer within
// the probe's own timeout, and a hung dependency is as
// unready as a refused one.
const readyTimeout = 3 * time.Second

// readier is what a dependency that can say it is up implements (the NATS
// bus, the tracking client).
type readier interface {
	Ready(ctx context.Context) error
}

// Ready reports whether every connected dependency answers now, naming each
// one that does not. It is a component's /ready: while a dependency is down
// the handlers retry (a delay, never lost data) and the component says it
// is not ready instead of looking healthy.
func (c *Conns) Ready(ctx context.Context) error {
	var errs []error
	check := func(name string, f func(context.Context) error) {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.Store != nil {
		check("object store", func(ctx context.Context) error {
			// Any answer about a key proves the store serves; a missing
			// object is an answer.
			_, err := c.Store.Stat(ctx, objstore.BucketModelPromotion, CurrentKey)
			if errors.Is(err, objstore.ErrNotFound) {
				return nil
			}
			return err
		})
	}
	if r, ok := c.Bus.(readier); ok && c.Bus != nil {
		check("event bus", r.Ready)
	}
	if c.Tracker != nil {
		check("tracking", c.Tracker.Ready)
	}
	return errors.Join(errs...)
}
