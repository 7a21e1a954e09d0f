package inference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flts/flts-e2e/pkg/backoff"
	"github.com/flts/flts-e2e/pkg/objstore"
)

// PromotionKey is the object naming the promoted model.
const PromotionKey = "current.json"

// promotionPointer is the part of the promotion record inference needs.
type promotionPointer struct {
	RunID     string `json:"run_id"`
	ModelType string `json:"model_type"`
	Artifact  struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	} `json:"artifact"`
}

// Watcher keeps the server's model in step with model-promotion/current.json.
type Watcher struct {
	Server *Server
	Store  objstore.Reader
	Load   Loader
	Logger *slog.Logger // default silent
	// Poll is the period of the current.json check (default 15s); Trigger
	// (e.g. fed by model-selected events) asks for an immediate check.
	Poll    time.Duration
	Trigger <-chan struct{}
}

// Refresh loads the promoted model when it differs from the served one. It
// returns objstore.ErrNotFound (wrapped) before any promotion.
func (w *Watcher) Refresh(ctx context.Context) (changed bool, err error) {
	var ptr promotionPointer
	if err := objstore.GetJSON(ctx, w.Store, objstore.BucketModelPromotion, PromotionKey, &ptr); err != nil {
		return false, fmt.Errorf("failed to read the promotion pointer: %w", err)
	}
	if ptr.RunID == "" || ptr.Artifact.Bucket == "" || ptr.Artifact.Key == "" {
		return false, fmt.Errorf("promotion record %s/%s lacks run_id or artifact location", objstore.BucketModelPromotion, PromotionKey)
	}
	if cur := w.Server.Model(); cur != nil && cur.RunID() == ptr.RunID {
		return false, nil
	}
	artifact, err := w.Store.Get(ctx, ptr.Artifact.Bucket, ptr.Artifact.Key)
	if err != nil {
		return false, fmt.Errorf("failed to read model artifact %s/%s: %w", ptr.Artifact.Bucket, ptr.Artifact.Key, err)
	}
	p, err := w.Load(artifact)
	if err != nil {
		return false, fmt.Errorf("failed to load model artifact of run %s: %w", ptr.RunID, err)
	}
	w.Server.SetModel(p)
	return true, nil
}

// Run loads the first model, retrying with backoff until one is promoted,
// then follows promotions until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	poll := w.Poll
	if poll <= 0 {
		poll = 15 * time.Second
	}
	// Until the first model: backoff.Dependency's delays, capped at the poll.
	delays := backoff.Policy{Initial: backoff.Dependency.Initial, Max: min(backoff.Dependency.Max, poll)}.Start()
	for attempt := 1; w.Server.Model() == nil; attempt++ {
		wait := delays.Next()
		_, err := w.Refresh(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, objstore.ErrNotFound) {
			log.Info("waiting for a promoted model", "attempt", attempt, "retry_in", wait, "reason", err.Error())
		} else {
			log.Warn("failed to load the promoted model", "attempt", attempt, "retry_in", wait, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-w.Trigger:
		}
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-w.Trigger:
		}
		if changed, err := w.Refresh(ctx); err != nil {
			log.Warn("failed to refresh the promoted model; still serving the current one", "error", err)
		} else if changed {
			log.Info("switched to the newly promoted model", "run_id", w.Server.Model().RunID())
		}
	}
}
