package events

import "time"

// Defaults of the NATS consumers.
const (
	// DefaultAckWait is how long the server waits for an ack before it
	// redelivers; long handlers keep the message alive with progress acks.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver 0 means no limit: a handler error is transient (a
	// dependency restarting) and the message is retried for as long as it
	// takes; a handler marks what retrying cannot fix with Permanent, and
	// that goes to the dead-letter topic at once.
	DefaultMaxDeliver = 0
	// DefaultRetryDelay is the first redelivery delay after a handler
	// error; each further retry doubles it, up to DefaultMaxRetryDelay.
	DefaultRetryDelay = time.Second
	// DefaultMaxRetryDelay caps the redelivery delay: a dependency back
	// after a restart is noticed within a minute.
	DefaultMaxRetryDelay = time.Minute
	// DefaultHandlerTimeout bounds one handler call. The longest handler is
	// a training: seconds to a minute on the default data with the chart's
	// CPU; a call still running after this is stuck (a dependency that
	// accepts and never answers), and the message is retried instead of
	// being held for good by progress acks.
	DefaultHandlerTimeout = 30 * time.Minute
)

// Option configures a NATSBus.
type Option func(*options)

type options struct {
	ackWait       time.Duration
	maxDeliver    int
	retryDelay    time.Duration
	maxRetryDelay time.Duration
	// handlerTimeout bounds one handler call (see DefaultHandlerTimeout).
	handlerTimeout time.Duration
	// streamMaxBytes and streamMaxAge bound the streams EnsureTopics
	// creates (0: no bound).
	streamMaxBytes int64
	streamMaxAge   time.Duration
	clientName     string
	// pullExpiry is how long one pull request waits on the server; missing
	// heartbeats (a lost consumer) are noticed within about this long.
	pullExpiry time.Duration
}

func defaultOptions() options {
	return options{
		ackWait:        DefaultAckWait,
		maxDeliver:     DefaultMaxDeliver,
		retryDelay:     DefaultRetryDelay,
		maxRetryDelay:  DefaultMaxRetryDelay,
		handlerTimeout: DefaultHandlerTimeout,
		clientName:     "flts",
		pullExpiry:     30 * time.Second,
	}
}

// WithAckWait sets the consumers' ack wait (values <= 0 are ignored).
func WithAckWait(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ackWait = d
		}
	}
}

// WithMaxDeliver bounds the deliveries of a message whose handler keeps
// failing: on the last one it is dead-lettered (values < 1 are ignored;
// the default is no bound).
func WithMaxDeliver(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxDeliver = n
		}
	}
}

// WithRetryDelay sets the first redelivery delay after a handler error,
// doubled on each further retry up to a minute (values < 0 are ignored; 0
// redelivers at once).
func WithRetryDelay(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.retryDelay = d
		}
	}
}

// WithHandlerTimeout bounds each handler call (values <= 0 are ignored).
func WithHandlerTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.handlerTimeout = d
		}
	}
}

// WithStreamLimits bounds every stream EnsureTopics creates or updates:
// past maxBytes or maxAge the oldest messages are dropped (0: no bound).
func WithStreamLimits(maxBytes int64, maxAge time.Duration) Option {
	return func(o *options) {
		o.streamMaxBytes = max(maxBytes, 0)
		o.streamMaxAge = max(maxAge, 0)
	}
}

// WithClientName sets the NATS connection name shown by the server.
func WithClientName(name string) Option {
	return func(o *options) {
		if name != "" {
			o.clientName = name
		}
	}
}

// withPullExpiry shortens pull requests so tests notice a lost consumer fast.
func withPullExpiry(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pullExpiry = d
		}
	}
}
