package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	Resumed bool // the run was left RUNNING by an interrupted delivery and trained again
}

// Train handles one training-data event: it trains cfg.ModelType on the
// announced data version, records the run and announces it on
// model-training. Replays of the event re-announce the finished run; the
// redelivery of an interrupted one resumes its run (see startRun).
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
	runs, err := versionRuns(ctx, d.Tracker, expID, ev.ConfigHash)
	if err != nil {
		return TrainResult{}, err
	}
	if prev, ok := latestPerType(withStatus(runs, tracking.StatusFinished))[cfg.ModelType]; ok {
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
	params := runParams(cfg, data)
	run, resumed, err := startRun(ctx, d, cfg, expID, ev.ConfigHash, runs, params)
	if err != nil {
		return TrainResult{}, err
	}
	runID := run.Info.RunID
	log = log.With("run_id", runID)
	if resumed {
		log.Info("resuming the run of an interrupted delivery")
	}
	if err := trainRun(ctx, d, cfg, run, data, params); err != nil {
		if !errors.Is(err, ErrModelFailed) {
			// A dependency failed or the handler was cut short: nothing is
			// wrong with the model. The run stays RUNNING and the
			// redelivery resumes it, so an outage leaves neither a FAILED
			// run nor a second one (and marking it here would fail anyway
			// while the tracking server or its store is down).
			log.Warn("training interrupted; the redelivery resumes the run", "error", err)
			return TrainResult{RunID: runID, Resumed: resumed}, err
		}
		log.Error("training failed", "error", err)
		// Record the failure even if ctx ends now, so the run never stays RUNNING.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		uerr := d.Tracker.UpdateRun(cctx, runID, tracking.StatusFailed)
		failed := trainedEvent(cfg.ModelType, runID, ev.ConfigHash)
		failed.Status, failed.Error = events.StatusFailed, err.Error()
		perr := d.publish(cctx, events.TopicModelTraining, failed)
		return TrainResult{RunID: runID, Resumed: resumed}, errors.Join(err, uerr, perr)
	}
	// The run is FINISHED: a failed publish is worth a redelivery (which
	// finds the finished run and announces it again), never a FAILED run.
	if err := d.publish(ctx, events.TopicModelTraining, trainedEvent(cfg.ModelType, runID, ev.ConfigHash)); err != nil {
		return TrainResult{RunID: runID, Resumed: resumed}, err
	}
	log.Info("model trained and announced")
	return TrainResult{RunID: runID, Resumed: resumed}, nil
}

// runParams are the parameters a run of cfg on data logs.
func runParams(cfg TrainConfig, data *preprocess.Processed) map[string]string {
	params := maps.Clone(cfg.Params)
	if params == nil {
		params = map[string]string{}
	}
	params["model_type"] = cfg.ModelType
	params["window"] = fmt.Sprint(data.Config.Window)
	return params
}

// startRun returns the run to train into. A RUNNING run of the model type
// on this data version is one whose delivery a dependency outage or a
// shutdown interrupted: the newest with the same parameters is resumed
// (resumed is true), so the outage leaves one FINISHED run instead of an
// abandoned RUNNING run beside a second one. Any other RUNNING run of the
// model type (other parameters: the trainer was redeployed meanwhile) will
// never be resumed and is marked KILLED. Otherwise a new run is created.
func startRun(ctx context.Context, d Deps, cfg TrainConfig, expID, hash string, runs []tracking.Run, params map[string]string) (run tracking.Run, resumed bool, err error) {
	running := withStatus(runs, tracking.StatusRunning)
	running = slices.DeleteFunc(running, func(r tracking.Run) bool { return r.Tag(TagModelType) != cfg.ModelType })
	slices.SortFunc(running, func(a, b tracking.Run) int { // newest first
		switch {
		case newer(a, b):
			return -1
		case newer(b, a):
			return 1
		}
		return 0
	})
	var resume *tracking.Run
	for i, r := range running {
		if resume == nil && sameParams(r, params) {
			resume = &running[i]
			continue
		}
		if err := d.Tracker.UpdateRun(ctx, r.Info.RunID, tracking.StatusKilled); err != nil {
			return tracking.Run{}, false, fmt.Errorf("failed to mark the abandoned run %s KILLED: %w", r.Info.RunID, err)
		}
		d.log().Warn("marked an abandoned run KILLED", "model_type", cfg.ModelType, "run_id", r.Info.RunID)
	}
	if resume != nil {
		return *resume, true, nil
	}
	runName := fmt.Sprintf("%s-%.8s", strings.ToLower(cfg.ModelType), hash)
	run, err = d.Tracker.CreateRun(ctx, expID, runName, map[string]string{TagModelType: cfg.ModelType, TagConfigHash: hash})
	if err != nil {
		return tracking.Run{}, false, fmt.Errorf("failed to create a tracking run: %w", err)
	}
	return run, false, nil
}

// sameParams reports whether run can be resumed with params: it logged
// none yet, or exactly these (tracking params are immutable).
func sameParams(run tracking.Run, params map[string]string) bool {
	if len(run.Data.Params) == 0 {
		return true
	}
	if len(run.Data.Params) != len(params) {
		return false
	}
	for _, p := range run.Data.Params {
		if v, ok := params[p.Key]; !ok || v != p.Value {
			return false
		}
	}
	return true
}

func trainRun(ctx context.Context, d Deps, cfg TrainConfig, run tracking.Run, data *preprocess.Processed, params map[string]string) error {
	runID := run.Info.RunID
	log := d.log().With("model_type", cfg.ModelType, "run_id", runID)
	// Logged again when the run is resumed: the same values are accepted.
	if err := d.Tracker.LogBatch(ctx, runID, nil, params, nil); err != nil {
		return fmt.Errorf("failed to log params: %w", err)
	}
	log.Info("training", "train_windows", data.Stats.TrainWindows, "test_windows", data.Stats.TestWindows)
	out, err := cfg.Train(ctx, cfg.ModelType, data, cfg.Params, func(msg string, args ...any) {
		log.Info(msg, args...)
	})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The handler's deadline: this training takes longer than a
			// handler may, and a redelivery would run out the same way, so
			// it is the model's failure, not an interruption to resume.
			return fmt.Errorf("%w: %s: training exceeded the handler deadline: %w", ErrModelFailed, cfg.ModelType, err)
		}
		if ctx.Err() != nil { // cancelled (shutdown): worth a redelivery
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

// finishedRuns returns the FINISHED runs trained on data version hash.
func finishedRuns(ctx context.Context, t Tracker, expID, hash string) ([]tracking.Run, error) {
	runs, err := versionRuns(ctx, t, expID, hash)
	if err != nil {
		return nil, err
	}
	return withStatus(runs, tracking.StatusFinished), nil
}

// versionRuns returns every run trained on data version hash. The tag is
// checked here too, whatever the server's filter supports.
func versionRuns(ctx context.Context, t Tracker, expID, hash string) ([]tracking.Run, error) {
	runs, err := t.SearchRuns(ctx, []string{expID}, fmt.Sprintf("tags.%s = '%s'", TagConfigHash, hash), nil)
	if err != nil {
		return nil, fmt.Errorf("failed to search runs of data version %s: %w", hash, err)
	}
	return slices.DeleteFunc(runs, func(r tracking.Run) bool { return r.Tag(TagConfigHash) != hash }), nil
}

// withStatus returns a new slice of the runs whose status is status.
func withStatus(runs []tracking.Run, status string) []tracking.Run {
	out := runs[:0:0]
	for _, r := range runs {
		if r.Info.Status == status {
			out = append(out, r)
		}
	}
	return out
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
