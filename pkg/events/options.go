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
	// pullExpiry is how long one pull request waits on the server.
	pullExpiry time.Duration
}

// maxPullHeartbeat caps the idle heartbeat the server sends while a pull
// request waits; two missed ones end the pull. Without the cap it is half
// the expiry (15 s). Besides a lost consumer, it catches a pull the client
// never sent: nats.go (v1.55.0) skips the next pull when a message arrives
// before its own bookkeeping of the previous pull has finished, and with
// one message per pull nothing else triggers it. Reproduced under CPU
// contention: the third of three published events waited for the missed
// heartbeats instead of being delivered.
const maxPullHeartbeat = 2 * time.Second

// pullHeartbeat is the idle heartbeat for pulls that expire after expiry.
func pullHeartbeat(expiry time.Duration) time.Duration {
	return min(expiry/2, maxPullHeartbeat)
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
