package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// ErrModelFailed marks a training that failed by itself (bad parameters,
// divergence): retrying the same event would fail again, so consumers
// acknowledge it once the FAILED run and event are recorded.
var ErrModelFailed = errors.New("model training failed")

// TrainOutput is what a trainer returns.
type TrainOutput struct {
	Artifact     model.Artifact
	Test         score.Metrics      // scaled, averaged over the KPIs, test split
	Baseline     score.Metrics      // persistence on the same windows
	PerKPIRMSE   map[string]float64 // original units
	TrainSeconds float64
}

// TrainFunc trains one model on a data version; progress reports epochs.
type TrainFunc func(ctx context.Context, modelType string, data *preprocess.Processed, params map[string]string, progress func(msg string, args ...any)) (TrainOutput, error)

// TrainConfig configures the train stage of one model type.
type TrainConfig struct {
	ModelType string            // GRU | LSTM | PROPHET
	Params    map[string]string // logged to tracking and passed to Train
	Train     TrainFunc
}

// TrainResult tells what the stage did.
type TrainResult struct {
	RunID   string
	Skipped bool // a finished run already existed and was re-announced
}

// Train handles one training-data event: it trains cfg.ModelType on the
// announced data version, records the run and announces it on
// model-training. Replays of the event re-announce the finished run.
func Train(ctx context.Context, d Deps, cfg TrainConfig, ev events.Event) (TrainResult, error) {
	log := d.log().With("model_type", cfg.ModelType, "config_hash", ev.ConfigHash)
	if ev.Status != events.StatusSuccess || ev.ConfigHash == "" {
		log.Info("ignoring training-data event", "status", ev.Status, "operation", ev.Operation)
		return TrainResult{Skipped: true}, nil
	}
	expID, err := d.Tracker.GetOrCreateExperiment(ctx, Experiment)
	if err != nil {
		return TrainResult{}, fmt.Errorf("failed to get experiment %q: %w", Experiment, err)
	}
	done, err := finishedRuns(ctx, d.Tracker, expID, ev.ConfigHash)
	if err != nil {
		return TrainResult{}, err
	}
	if prev, ok := latestPerType(done)[cfg.ModelType]; ok {
		log.Info("model already trained on this data version; announcing it again", "run_id", prev.Info.RunID)
		return TrainResult{RunID: prev.Info.RunID, Skipped: true}, d.publish(ctx, events.TopicModelTraining, trainedEvent(cfg.ModelType, prev.Info.RunID, ev.ConfigHash))
	}

	data, err := LoadProcessed(ctx, d.Store, ev.ConfigHash)
	if errors.Is(err, objstore.ErrNotFound) {
		// Retrying cannot bring a data version back: dead-letter the event
		// (visible, and re-drivable once preprocess has run again).
		return TrainResult{}, events.Permanent(fmt.Errorf("data version %s is not in the store: %w", ev.ConfigHash, err))
	}
	if err != nil {
		return TrainResult{}, err
	}
	runName := fmt.Sprintf("%s-%.8s", strings.ToLower(cfg.ModelType), ev.ConfigHash)
	run, err := d.Tracker.CreateRun(ctx, expID, runName, map[string]string{TagModelType: cfg.ModelType, TagConfigHash: ev.ConfigHash})
	if err != nil {
		return TrainResult{}, fmt.Errorf("failed to create a tracking run: %w", err)
	}
	runID := run.Info.RunID
	log = log.With("run_id", runID)
	if err := trainRun(ctx, d, cfg, run, data); err != nil {
		log.Error("training failed", "error", err)
		// Record the failure even when ctx is done, so the run never stays RUNNING.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		uerr := d.Tracker.UpdateRun(cctx, runID, tracking.StatusFailed)
		failed := trainedEvent(cfg.ModelType, runID, ev.ConfigHash)
		failed.Status, failed.Error = events.StatusFailed, err.Error()
		perr := d.publish(cctx, events.TopicModelTraining, failed)
		return TrainResult{RunID: runID}, errors.Join(err, uerr, perr)
	}
	// The run is FINISHED: a failed publish is worth a redelivery (which
	// finds the finished run and announces it again), never a FAILED run.
	if err := d.publish(ctx, events.TopicModelTraining, trainedEvent(cfg.ModelType, runID, ev.ConfigHash)); err != nil {
		return TrainResult{RunID: runID}, err
	}
	log.Info("model trained and announced")
	return TrainResult{RunID: runID}, nil
}

func trainRun(ctx context.Context, d Deps, cfg TrainConfig, run tracking.Run, data *preprocess.Processed) error {
	runID := run.Info.RunID
	log := d.log().With("model_type", cfg.ModelType, "run_id", runID)
	params := maps.Clone(cfg.Params)
	if params == nil {
		params = map[string]string{}
	}
	params["model_type"] = cfg.ModelType
	params["window"] = fmt.Sprint(data.Config.Window)
	if err := d.Tracker.LogBatch(ctx, runID, nil, params, nil); err != nil {
		return fmt.Errorf("failed to log params: %w", err)
	}
	log.Info("training", "train_windows", data.Stats.TrainWindows, "test_windows", data.Stats.TestWindows)
	out, err := cfg.Train(ctx, cfg.ModelType, data, cfg.Params, func(msg string, args ...any) {
		log.Info(msg, args...)
	})
	if err != nil {
		if ctx.Err() != nil { // interrupted (shutdown): worth a redelivery
			return fmt.Errorf("failed to train %s: %w", cfg.ModelType, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrModelFailed, cfg.ModelType, err)
	}
	out.Artifact.RunID = runID
	out.Artifact.ConfigHash = data.ConfigHash
	body, err := json.Marshal(out.Artifact)
	if err != nil {
		return fmt.Errorf("failed to encode the model artifact: %w", err)
	}
	bucket, key, err := tracking.ArtifactLocation(run, ModelArtifact)
	if err != nil {
		return err
	}
	// One whole-object put: readers never see half an artifact.
	if err := d.Store.Put(ctx, bucket, key, body, "application/json"); err != nil {
		return fmt.Errorf("failed to store the model artifact: %w", err)
	}
	metrics := map[string]float64{
		"rmse": out.Test.RMSE, "mae": out.Test.MAE, "mse": out.Test.MSE,
		"baseline_rmse": out.Baseline.RMSE, "baseline_mae": out.Baseline.MAE, "baseline_mse": out.Baseline.MSE,
		"train_seconds": out.TrainSeconds,
	}
	for kpi, v := range out.PerKPIRMSE {
		metrics["rmse_"+kpi] = v
	}
	if err := d.Tracker.LogBatch(ctx, runID, metrics, nil, nil); err != nil {
		return fmt.Errorf("failed to log metrics: %w", err)
	}
	if err := d.Tracker.UpdateRun(ctx, runID, tracking.StatusFinished); err != nil {
		return fmt.Errorf("failed to finish the run: %w", err)
	}
	log.Info("run finished", "rmse", out.Test.RMSE, "score", score.Score(out.Test),
		"baseline_score", score.Score(out.Baseline), "train_seconds", out.TrainSeconds, "artifact", bucket+"/"+key)
	return nil
}

func trainedEvent(modelType, runID, hash string) events.Event {
	return events.Event{Operation: operationPrefix + modelType, Status: events.StatusSuccess, RunID: runID,
		ConfigHash: hash, ModelType: modelType}
}

// finishedRuns returns the FINISHED runs trained on data version hash. The
// status and tag are checked here too, whatever the server's filter supports.
func finishedRuns(ctx context.Context, t Tracker, expID, hash string) ([]tracking.Run, error) {
	runs, err := t.SearchRuns(ctx, []string{expID}, fmt.Sprintf("tags.%s = '%s'", TagConfigHash, hash), nil)
	if err != nil {
		return nil, fmt.Errorf("failed to search runs of data version %s: %w", hash, err)
	}
	out := runs[:0:0]
	for _, r := range runs {
		if r.Info.Status == tracking.StatusFinished && r.Tag(TagConfigHash) == hash {
			out = append(out, r)
		}
	}
	return out, nil
}

// latestPerType keeps the newest run of each model type (ties: larger run id).
func latestPerType(runs []tracking.Run) map[string]tracking.Run {
	out := map[string]tracking.Run{}
	for _, r := range runs {
		t := r.Tag(TagModelType)
		if prev, ok := out[t]; !ok || newer(r, prev) {
			out[t] = r
		}
	}
	return out
}

func newer(a, b tracking.Run) bool {
	if a.Info.StartTime != b.Info.StartTime {
		return a.Info.StartTime > b.Info.StartTime
	}
	return a.Info.RunID > b.Info.RunID
}
