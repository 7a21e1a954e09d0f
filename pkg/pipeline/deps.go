package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// Experiment is the tracking experiment every run belongs to.
const Experiment = "flts"

// Object keys of the pipeline's data.
const (
	RawKey          = "raw/kpis.csv"     // in BucketDataset
	LatestDataKey   = "latest.json"      // in BucketProcessed: names the newest data version
	CurrentKey      = "current.json"     // in BucketModelPromotion
	HistoryPrefix   = "history/"         // in BucketModelPromotion
	ModelArtifact   = "model/model.json" // relative to a run's artifact root
	TagModelType    = "model_type"
	TagConfigHash   = "config_hash"
	TagPromoted     = "promoted"
	operationPrefix = "Trained: "
)

// ProcessedKey returns the key of one processed-data object of a data version.
func ProcessedKey(hash, name string) string { return hash + "/" + name }

// Publisher is the publishing half of events.Bus.
type Publisher interface {
	Publish(ctx context.Context, topic string, ev events.Event) error
}

// Tracker is the part of the tracking client the stages use.
type Tracker interface {
	GetOrCreateExperiment(ctx context.Context, name string) (string, error)
	CreateRun(ctx context.Context, expID, runName string, tags map[string]string) (tracking.Run, error)
	LogBatch(ctx context.Context, runID string, metrics map[string]float64, params, tags map[string]string) error
	SetTag(ctx context.Context, runID, key, value string) error
	UpdateRun(ctx context.Context, runID, status string) error
	SearchRuns(ctx context.Context, expIDs []string, filter string, orderBy []string) ([]tracking.Run, error)
}

// Deps are what every stage needs.
type Deps struct {
	Store   objstore.Store
	Events  Publisher
	Tracker Tracker
	Logger  *slog.Logger     // default silent
	Now     func() time.Time // default time.Now
}

func (d Deps) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d Deps) now() time.Time {
	if d.Now == nil {
		return time.Now().UTC()
	}
	return d.Now().UTC()
}

func (d Deps) publish(ctx context.Context, topic string, ev events.Event) error {
	ev.Timestamp = d.now()
	if err := d.Events.Publish(ctx, topic, ev); err != nil {
		return fmt.Errorf("failed to publish %q on %s: %w", ev.Operation, topic, err)
	}
	return nil
}
