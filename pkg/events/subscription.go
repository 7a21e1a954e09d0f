package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flts/flts-e2e/pkg/backoff"
)

// ephemeralInactiveThreshold is how long the server keeps an ephemeral
// consumer after its client went away (a deleted inference pod).
const ephemeralInactiveThreshold = time.Minute

// Subscription is a running consumer started by NATSBus.Start.
type Subscription struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Stop stops consuming and waits until the handler in flight, if any, has
// returned. It is safe to call more than once.
func (s *Subscription) Stop() {
	s.cancel()
	<-s.done
}

// Done is closed once the subscription has stopped.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Start creates the consumer and processes messages in the background until
// ctx is done or Stop is called. It returns once the consumer exists, so an
// ephemeral consumer (durable == "") sees every message published after
// Start returns and none from before.
//
// Messages are handled one at a time. A handler error redelivers the
// message after a capped, doubling delay, for as long as it takes (or up
// to WithMaxDeliver deliveries); an error marked Permanent, and a body
// that is not valid Event JSON, go to DLQ-<topic> at once.
func (b *NATSBus) Start(ctx context.Context, topic, durable string, h Handler) (*Subscription, error) {
	if err := validateTopic(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("failed to subscribe: nil handler")
	}
	c := &consumerRun{bus: b, topic: topic, durable: durable, handler: h}
	it, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	sub := &Subscription{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		c.run(subCtx, it)
	}()
	c.logger.Info("subscribed", "durable", durable != "")
	return sub, nil
}

// consumerRun is the state of one subscription.
type consumerRun struct {
	bus     *NATSBus
	topic   string
	durable string
	handler Handler
	cons    jetstream.Consumer
	logger  *slog.Logger
}

func (c *consumerRun) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.durable,
		FilterSubject: c.topic,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.bus.opts.ackWait,
		MaxDeliver:    c.bus.opts.maxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if c.durable == "" {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		cfg.InactiveThreshold = ephemeralInactiveThreshold
	}
	return cfg
}

// open starts pulling from the consumer. It creates (or updates) the
// consumer unless the one this subscription already used still exists:
// re-creating an ephemeral consumer (DeliverNew) would skip the events
// published in between.
func (c *consumerRun) open(ctx context.Context) (jetstream.MessagesContext, error) {
	stream := StreamName(c.topic)
	cons := c.cons
	if cons != nil {
		if _, err := cons.Info(ctx); errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			cons = nil
		} else if err != nil {
			return nil, fmt.Errorf("failed to look up consumer on stream %s: %w", stream, err)
		}
	}
	if cons == nil {
		var err error
		if cons, err = c.bus.js.CreateOrUpdateConsumer(ctx, stream, c.config()); err != nil {
			return nil, fmt.Errorf("failed to create consumer %q on stream %s: %w", c.durable, stream, err)
		}
	}
	// One message at a time: buffered messages would sit out their ack
	// wait behind a long-running handler and be redelivered needlessly.
	expiry := c.bus.opts.pullExpiry
	it, err := cons.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(expiry),
		jetstream.PullHeartbeat(pullHeartbeat(expiry)), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return nil, fmt.Errorf("failed to start consuming %q: %w", c.topic, err)
	}
	c.cons = cons
	c.logger = c.bus.logger.With("topic", c.topic, "consumer", cons.CachedInfo().Name)
	return it, nil
}

// run consumes until ctx is done. When the consumer disappears (deleted,
// or the server restarted without its state) it re-creates the stream and
// the consumer instead of going silent.
func (c *consumerRun) run(ctx context.Context, it jetstream.MessagesContext) {
	for {
		err := c.consume(ctx, it)
		it.Stop()
		if err == nil || ctx.Err() != nil {
			return
		}
		c.logger.Warn("consumer interrupted; re-opening it", "error", err.Error())
		if it = c.reopen(ctx); it == nil {
			return
		}
	}
}

func (c *consumerRun) reopen(ctx context.Context) jetstream.MessagesContext {
	var it jetstream.MessagesContext
	err := backoff.Retry(ctx, c.logger, "re-create consumer", backoff.Consumer, func(ctx context.Context) error {
		var err error
		it, err = c.open(ctx)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if err = c.bus.EnsureTopics(ctx, c.topic); err == nil {
				it, err = c.open(ctx)
			}
		}
		return err
	})
	if err != nil {
		return nil // ctx is done
	}
	return it
}

// consume handles messages until ctx is done or the bus is closed (nil), or
// until the consumer is gone (the error).
func (c *consumerRun) consume(ctx context.Context, it jetstream.MessagesContext) error {
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err == nil {
			c.bus.handle(ctx, msg, c.topic, c.handler, c.logger)
			continue
		}
		switch {
		case ctx.Err() != nil || c.bus.nc.IsClosed():
			return nil
		case errors.Is(err, jetstream.ErrMsgIteratorClosed), errors.Is(err, jetstream.ErrConsumerDeleted),
			errors.Is(err, jetstream.ErrBadRequest):
			return err
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// Either the connection is down (it reconnects by itself) or
			// the consumer is gone; only the second needs us.
			infoCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, ierr := c.cons.Info(infoCtx)
			cancel()
			if errors.Is(ierr, jetstream.ErrConsumerNotFound) || errors.Is(ierr, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%w: %w", err, ierr)
			}
			// With heartbeat errors reported the iterator has stopped;
			// let run open a new one.
			return err
		}
		c.logger.Warn("waiting for messages", "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (b *NATSBus) handle(ctx context.Context, msg jetstream.Msg, topic string, h Handler, logger *slog.Logger) {
	delivered := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		b.deadLetter(ctx, msg, topic, "", fmt.Errorf("invalid event JSON: %w", err), logger)
		return
	}
	herr := b.runHandler(ctx, msg, ev, h)
	if herr == nil {
		if err := msg.Ack(); err != nil {
			logger.Warn("failed to ack", "error", err.Error())
		}
		return
	}
	if IsPermanent(herr) {
		b.deadLetter(ctx, msg, topic, ev.Operation, herr, logger)
		return
	}
	if b.opts.maxDeliver > 0 && delivered >= uint64(b.opts.maxDeliver) {
		b.deadLetter(ctx, msg, topic, ev.Operation, fmt.Errorf("after %d deliveries: %w", delivered, herr), logger)
		return
	}
	delay := retryDelay(b.opts.retryDelay, b.opts.maxRetryDelay, delivered)
	logger.Warn("handler failed; will redeliver", "delivery", delivered, "max_deliver", b.opts.maxDeliver,
		"retry_in", delay.String(), "operation", ev.Operation, "error", herr.Error())
	if err := msg.NakWithDelay(delay); err != nil {
		logger.Warn("failed to nak", "error", err.Error())
	}
}

// retryDelay is the wait before delivery n+1 after n failed ones: first,
// doubled each time, capped.
func retryDelay(first, limit time.Duration, n uint64) time.Duration {
	d := first
	for i := uint64(1); i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// permanentError marks a handler error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (an event naming a
// data version that does not exist, a body that fails validation): the
// message goes to the dead-letter topic at once instead of being retried.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// runHandler calls h under the handler deadline while telling the server
// the message is in progress every third of the ack wait, so long handlers
// (training) are not redelivered while they work, and a stuck one is.
func (b *NATSBus) runHandler(ctx context.Context, msg jetstream.Msg, ev Event, h Handler) (err error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(b.opts.ackWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	hctx, cancel := context.WithTimeout(ctx, b.opts.handlerTimeout)
	defer func() {
		cancel()
		close(stop)
		wg.Wait()
		if err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("handler exceeded its deadline of %s: %w", b.opts.handlerTimeout, err)
		}
		if r := recover(); r != nil {
			// A panic is a bug in the handler: retrying repeats it.
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return h(hctx, ev)
}

func (b *NATSBus) deadLetter(ctx context.Context, msg jetstream.Msg, topic, operation string, cause error, logger *slog.Logger) {
	payload := json.RawMessage(msg.Data())
	if !json.Valid(payload) {
		// Keep the DLQ body valid JSON: carry an undecodable body as a string.
		quoted, _ := json.Marshal(string(msg.Data()))
		payload = quoted
	}
	if operation == "" {
		operation = "consume " + topic
	}
	body, err := json.Marshal(DeadLetter{
		Operation: operation,
		Status:    StatusFailed,
		Error:     cause.Error(),
		Payload:   payload,
		Timestamp: time.Now().UTC(),
	})
	if err == nil {
		// Publish even if ctx is ending, or the message is lost.
		pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = b.publishRaw(pubCtx, DLQ(topic), body)
		cancel()
	}
	if err != nil {
		// Leave the message un-acked: the server redelivers it (after the
		// ack wait) rather than dropping it silently.
		logger.Error("failed to dead-letter; leaving message for redelivery", "error", err.Error(), "cause", cause.Error())
		return
	}
	logger.Error("dead-lettered message", "dlq", DLQ(topic), "error", cause.Error())
	if err := msg.Term(); err != nil {
		logger.Warn("failed to terminate dead-lettered message", "error", err.Error())
	}
}
