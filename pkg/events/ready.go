package events

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Ready reports whether the broker answers now: the connection is up and
// JetStream answers an account-info request. Components serve it on /ready
// while their handlers keep retrying, so an outage the retries absorb is
// still visible to Kubernetes and to the user.
func (b *NATSBus) Ready(ctx context.Context) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("broker connection is %s", st)
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream does not answer: %w", err)
	}
	return nil
}
