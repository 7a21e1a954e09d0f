package events

import "time"

// Defaults of the NATS consumers.
const (
	// DefaultAckWait is how long the server waits for an ack before it
	// redelivers; long handlers keep the message alive with progress acks.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how many times a message is tried before it is
	// dead-lettered.
	DefaultMaxDeliver = 5
	// DefaultRetryDelay is the base delay before a failed message is
	// redelivered; the n-th retry waits n times this.
	DefaultRetryDelay = time.Second
)

// Option configures a NATSBus.
type Option func(*options)

type options struct {
	ackWait    time.Duration
	maxDeliver int
	retryDelay time.Duration
	clientName string
	// pullExpiry is how long one pull request waits on the server; missing
	// heartbeats (a lost consumer) are noticed within about this long.
	pullExpiry time.Duration
}

func defaultOptions() options {
	return options{
		ackWait:    DefaultAckWait,
		maxDeliver: DefaultMaxDeliver,
		retryDelay: DefaultRetryDelay,
		clientName: "flts",
		pullExpiry: 30 * time.Second,
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

// WithMaxDeliver sets how many deliveries a message gets before it is
// dead-lettered (values < 1 are ignored).
func WithMaxDeliver(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxDeliver = n
		}
	}
}

// WithRetryDelay sets the base redelivery delay after a handler error
// (values < 0 are ignored; 0 redelivers at once).
func WithRetryDelay(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.retryDelay = d
		}
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
