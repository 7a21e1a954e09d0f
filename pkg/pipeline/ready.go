package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flts/flts-e2e/pkg/objstore"
)

// readyTimeout bounds the checks, run side by side: within the probes'
// 5 s timeout, so the kubelet sees the named cause rather than a probe
// timeout, and a hung dependency is as unready as a refused one.
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
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	checks := map[string]func(context.Context) error{}
	if c.Store != nil {
		checks["object store"] = func(ctx context.Context) error {
			// Any answer about a key proves the store serves; a missing
			// object (or bucket) is an answer.
			_, err := c.Store.Stat(ctx, objstore.BucketModelPromotion, CurrentKey)
			if errors.Is(err, objstore.ErrNotFound) {
				return nil
			}
			return err
		}
	}
	if r, ok := c.Bus.(readier); ok {
		checks["event bus"] = r.Ready
	}
	if c.Tracker != nil {
		checks["tracking"] = c.Tracker.Ready
	}
	errs := make([]error, 0, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}
