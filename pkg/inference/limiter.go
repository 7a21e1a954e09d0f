package inference

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrQueueFull is returned by Limiter.Acquire when every in-flight slot is
// taken and the wait queue is full. The server maps it to 429.
var ErrQueueFull = errors.New("server busy: request queue is full")

// Limiter bounds concurrent work: at most inFlight holders, and at most
// maxQueue callers waiting for a slot. Acquiring never blocks when the
// queue is full, so overload is shed at once instead of piling up.
type Limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
}

// NewLimiter returns a limiter with inFlight slots (at least 1) and a wait
// queue of maxQueue (0 means no waiting: fail when all slots are busy).
func NewLimiter(inFlight, maxQueue int) *Limiter {
	if inFlight < 1 {
		inFlight = 1
	}
	if maxQueue < 0 {
		maxQueue = 0
	}
	return &Limiter{slots: make(chan struct{}, inFlight), maxQueue: int64(maxQueue)}
}

// Acquire takes a slot, waiting in the queue until ctx is done. It returns
// ErrQueueFull when the queue is full, or ctx's error. release must be
// called exactly once on success.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.maxQueue {
		l.waiting.Add(-1)
		return nil, ErrQueueFull
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() { <-l.slots }

// QueueLength is the number of callers waiting for a slot.
func (l *Limiter) QueueLength() int { return int(l.waiting.Load()) }

// InFlight is the number of slots held.
func (l *Limiter) InFlight() int { return len(l.slots) }

// Capacity is the number of slots.
func (l *Limiter) Capacity() int { return cap(l.slots) }
