package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DLQStream is the stream that holds every dead-letter topic.
const DLQStream = "DLQ"

// NATSBus is the JetStream implementation of Bus.
type NATSBus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	opts   options
	logger *slog.Logger
}

var _ Bus = (*NATSBus)(nil)

// DeadLetter is the JSON body published to DLQ-<topic> when a message
// exhausted its deliveries or could not be decoded.
type DeadLetter struct {
	Operation string          `json:"operation"`
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	Payload   json.RawMessage `json:"payload"`
	Timestamp time.Time       `json:"timestamp"`
}

// StreamName returns the JetStream stream name of topic: upper-cased, with
// '-' replaced by '_' (stream names may not contain some punctuation).
func StreamName(topic string) string {
	return strings.ReplaceAll(strings.ToUpper(topic), "-", "_")
}

// Connect dials url once and checks that JetStream answers. A binary that
// starts before the NATS server retries it (pipeline.Connect does, with
// backoff.Dependency). Once connected, the client reconnects on its own
// forever. A nil logger is silent.
func Connect(ctx context.Context, url string, logger *slog.Logger, opts ...Option) (*NATSBus, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	bus, err := dial(ctx, url, o, logger)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to NATS at %s: %w", url, err)
	}
	logger.Info("connected to NATS", "url", url)
	return bus, nil
}

func dial(ctx context.Context, url string, o options, logger *slog.Logger) (*NATSBus, error) {
	nc, err := nats.Connect(url,
		nats.Name(o.clientName),
		nats.Timeout(2*time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected from NATS", "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("reconnected to NATS", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	// The server accepts clients a moment before JetStream is up.
	infoCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(infoCtx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream not ready: %w", err)
	}
	return &NATSBus{nc: nc, js: js, opts: o, logger: logger}, nil
}

// EnsureTopics creates or updates one file-backed stream per topic and the
// DLQ stream. NATS has no partial-token wildcards, so the DLQ stream lists
// its subjects: the dead-letter topics of every pipeline topic plus those
// asked for, merged with what it already holds, so callers asking for
// different topics do not undo each other.
func (b *NATSBus) EnsureTopics(ctx context.Context, topics ...string) error {
	dlqSubjects := make([]string, 0, len(AllTopics)+len(topics))
	for _, t := range append(slices.Clone(AllTopics), topics...) {
		dlqSubjects = append(dlqSubjects, DLQ(t))
	}
	for _, topic := range topics {
		if err := validateTopic(topic); err != nil {
			return err
		}
		_, err := b.js.CreateOrUpdateStream(ctx, b.streamConfig(StreamName(topic), []string{topic}))
		if err != nil {
			return fmt.Errorf("failed to ensure stream %s for topic %q: %w", StreamName(topic), topic, err)
		}
	}
	if s, err := b.js.Stream(ctx, DLQStream); err == nil {
		dlqSubjects = append(dlqSubjects, s.CachedInfo().Config.Subjects...)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	slices.Sort(dlqSubjects)
	dlqSubjects = slices.Compact(dlqSubjects)
	_, err := b.js.CreateOrUpdateStream(ctx, b.streamConfig(DLQStream, dlqSubjects))
	if err != nil {
		return fmt.Errorf("failed to ensure stream %s: %w", DLQStream, err)
	}
	b.logger.Debug("ensured topics", "topics", topics)
	return nil
}

// streamConfig is the configuration of every stream: on disk, bounded by
// WithStreamLimits (a limit of 0 means none, JetStream's -1).
func (b *NATSBus) streamConfig(name string, subjects []string) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage,
		MaxBytes: -1, MaxAge: b.opts.streamMaxAge}
	if b.opts.streamMaxBytes > 0 {
		cfg.MaxBytes = b.opts.streamMaxBytes
	}
	return cfg
}

// Publish sends ev on topic and waits for JetStream to store it. A zero
// Timestamp is set to now.
func (b *NATSBus) Publish(ctx context.Context, topic string, ev Event) error {
	if ev.Timestamp.IsZero() {
		ev.Timestamp = time.Now().UTC()
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("failed to encode event for %q: %w", topic, err)
	}
	return b.publishRaw(ctx, topic, body)
}

func (b *NATSBus) publishRaw(ctx context.Context, topic string, body []byte) error {
	if _, err := b.js.Publish(ctx, topic, body); err != nil {
		return fmt.Errorf("failed to publish to %q (is the topic ensured?): %w", topic, err)
	}
	return nil
}

var _ Bus = (*NATSBus)(nil)

// Subscribe consumes topic until ctx is done, then returns nil. It returns
// an error only when the consumer cannot be set up. See Start.
func (b *NATSBus) Subscribe(ctx context.Context, topic, durable string, h Handler) error {
	sub, err := b.Start(ctx, topic, durable, h)
	if err != nil {
		return err
	}
	<-ctx.Done()
	sub.Stop()
	return nil
}

// Close drains the connection: in-flight acks and publishes finish first.
func (b *NATSBus) Close() error {
	if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.nc.Close()
		return fmt.Errorf("failed to drain NATS connection: %w", err)
	}
	return nil
}

func validateTopic(topic string) error {
	if topic == "" || strings.ContainsAny(topic, " \t\r\n.*>") {
		return fmt.Errorf("invalid topic %q: must be one non-empty token without spaces, '.', '*' or '>'", topic)
	}
	return nil
}
