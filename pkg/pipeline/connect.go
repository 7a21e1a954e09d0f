package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/flts/flts-e2e/pkg/backoff"
	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/s3store"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// Conns are a binary's connections to its dependencies.
type Conns struct {
	Store   objstore.Store
	Bus     events.Bus
	Tracker *tracking.Client
}

// Close closes the bus connection.
func (c *Conns) Close() {
	if c.Bus != nil {
		_ = c.Bus.Close()
	}
}

// Need says which dependencies a binary uses.
type Need struct{ Store, Bus, Tracker bool }

// Connect waits for the dependencies in need, creating every bucket and
// topic the pipeline uses (no init jobs: whichever binary starts first does it).
func Connect(ctx context.Context, cfg config.Common, need Need, log *slog.Logger, busOpts ...events.Option) (*Conns, error) {
	c := &Conns{}
	if need.Store {
		s, err := s3store.New(s3store.Config{Endpoint: cfg.S3Endpoint, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Secure: cfg.S3Secure}, log)
		if err != nil {
			return nil, err
		}
		if err := backoff.Retry(ctx, log, "object store "+cfg.S3Endpoint, backoff.Dependency, func(ctx context.Context) error {
			return objstore.EnsureBuckets(ctx, s, objstore.AllBuckets...)
		}); err != nil {
			return nil, err
		}
		c.Store = s
	}
	if need.Bus {
		if err := backoff.Retry(ctx, log, "event bus "+cfg.NATSURL, backoff.Dependency, func(ctx context.Context) error {
			opts := append([]events.Option{events.WithStreamLimits(int64(cfg.StreamMaxBytes), cfg.StreamMaxAge)}, busOpts...)
			b, err := events.Connect(ctx, cfg.NATSURL, log, opts...)
			if err != nil {
				return err
			}
			if err := b.EnsureTopics(ctx, events.AllTopics...); err != nil {
				_ = b.Close()
				return err
			}
			c.Bus = b
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if need.Tracker {
		t := tracking.NewClient(cfg.TrackingURL, &http.Client{Timeout: 30 * time.Second})
		if err := backoff.Retry(ctx, log, "tracking server "+cfg.TrackingURL, backoff.Dependency, func(ctx context.Context) error {
			_, err := t.GetOrCreateExperiment(ctx, Experiment)
			return err
		}); err != nil {
			c.Close()
			return nil, err
		}
		c.Tracker = t
	}
	return c, nil
}
