package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// ArtifactRef locates a stored model artifact.
type ArtifactRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// Candidate is one model considered for promotion.
type Candidate struct {
	RunID         string             `json:"run_id"`
	ModelType     string             `json:"model_type"`
	Score         float64            `json:"score"`
	BaselineScore float64            `json:"baseline_score"`
	Metrics       map[string]float64 `json:"metrics"`
	StartTime     int64              `json:"start_time"`
}

// Promotion is model-promotion/current.json and each history record.
type Promotion struct {
	RunID         string             `json:"run_id"`
	ModelType     string             `json:"model_type"`
	ConfigHash    string             `json:"config_hash"`
	Metrics       map[string]float64 `json:"metrics"`
	Score         float64            `json:"score"`
	BaselineScore float64            `json:"baseline_score"`
	Artifact      ArtifactRef        `json:"artifact"`
	PromotedAt    time.Time          `json:"promoted_at"`
	Candidates    []Candidate        `json:"candidates"`
}

// Evaluator promotes the best model of the newest data version. Its
// Evaluate calls are serialised so concurrent events of one process do not
// race on current.json; against other processes (two eval pods, a rolling
// update) current.json is written conditionally on the version read, so a
// promotion decided on what another one has since replaced is never
// written.
type Evaluator struct {
	Deps Deps
	// Expected lists the model types that must all have trained (default model.Types).
	Expected []string
	mu       sync.Mutex
}

// Reasons EvalResult.Reason gives for not promoting.
const (
	// ReasonAlreadyPromoted: the winner is already current.
	ReasonAlreadyPromoted = "already promoted"
	// ReasonStaleData: the event's data version is not the newest.
	ReasonStaleData = "stale data version"
)

// EvalResult tells what Evaluate decided.
type EvalResult struct {
	Promoted  *Promotion // nil unless a new promotion was written
	Reason    string     // why nothing was promoted
	Candidate []Candidate
}

// Evaluate handles one model-training event.
func (e *Evaluator) Evaluate(ctx context.Context, ev events.Event) (EvalResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.Deps
	log := d.log().With("config_hash", ev.ConfigHash, "event_run_id", ev.RunID)
	if ev.Status != events.StatusSuccess || ev.ConfigHash == "" {
		log.Info("ignoring model-training event", "status", ev.Status, "operation", ev.Operation, "error", ev.Error)
		return EvalResult{Reason: "event is not a successful training"}, nil
	}
	latest, err := ReadLatestData(ctx, d.Store)
	if err != nil {
		return EvalResult{}, err
	}
	if latest.ConfigHash != ev.ConfigHash {
		log.Info("ignoring a model of stale data", "latest_config_hash", latest.ConfigHash)
		return EvalResult{Reason: ReasonStaleData}, nil
	}
	expID, err := d.Tracker.GetOrCreateExperiment(ctx, Experiment)
	if err != nil {
		return EvalResult{}, fmt.Errorf("failed to get experiment %q: %w", Experiment, err)
	}
	runs, err := finishedRuns(ctx, d.Tracker, expID, ev.ConfigHash)
	if err != nil {
		return EvalResult{}, err
	}
	expected := e.Expected
	if len(expected) == 0 {
		expected = model.Types
	}
	byType := latestPerType(runs)
	var missing []string
	var cands []Candidate
	var runsOf = map[string]tracking.Run{}
	for _, t := range expected {
		r, ok := byType[t]
		if !ok {
			missing = append(missing, t)
			continue
		}
		c, err := candidateOf(r)
		if err != nil {
			log.Warn("run cannot be scored; waiting for a retrain", "run_id", r.Info.RunID, "error", err)
			missing = append(missing, t)
			continue
		}
		cands = append(cands, c)
		runsOf[c.RunID] = r
	}
	if len(missing) > 0 {
		log.Info("waiting for more models", "missing", missing, "have", len(cands))
		return EvalResult{Reason: fmt.Sprintf("waiting for %v", missing), Candidate: cands}, nil
	}
	// Lowest score wins; ties go to the newest run.
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Score != cands[j].Score {
			return cands[i].Score < cands[j].Score
		}
		if cands[i].StartTime != cands[j].StartTime {
			return cands[i].StartTime > cands[j].StartTime
		}
		return cands[i].RunID > cands[j].RunID
	})
	win := cands[0]
	res := EvalResult{Candidate: cands}

	// current.json is written below only if it is still at prevVersion.
	prev, prevVersion, err := readPromotionVersioned(ctx, d.Store)
	hasPrev := err == nil
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return res, err
	}
	if hasPrev && prev.ConfigHash != ev.ConfigHash {
		// current.json names another data version: is it newer than ours?
		// latest.json orders versions, and it is read again now, after
		// current.json: whoever promoted that version did so after
		// latest.json named it. If latest.json still names ours, the
		// promoted version is older (or ours became the newest again) and
		// may be replaced; if not, ours went stale while this ran.
		latest, err := ReadLatestData(ctx, d.Store)
		if err != nil {
			return res, err
		}
		if latest.ConfigHash != ev.ConfigHash {
			log.Info("not replacing the promotion of a newer data version", "promoted_config_hash", prev.ConfigHash,
				"latest_config_hash", latest.ConfigHash)
			res.Reason = ReasonStaleData
			return res, nil
		}
	}
	if hasPrev && prev.ConfigHash == ev.ConfigHash && prev.RunID == win.RunID {
		if runsOf[win.RunID].Tag(TagPromoted) == "true" {
			log.Info("winner already promoted", "run_id", win.RunID)
			res.Reason = ReasonAlreadyPromoted
			return res, nil
		}
		// current.json names the winner, but the steps after it did not
		// all finish (the event is redelivered after a failed publish or
		// tag): finish them instead of stopping at "already promoted".
		log.Info("finishing an interrupted promotion", "run_id", win.RunID)
		if err := e.announce(ctx, prev, runs); err != nil {
			return res, err
		}
		res.Promoted = &prev
		return res, nil
	}
	bucket, key, err := tracking.ArtifactLocation(runsOf[win.RunID], ModelArtifact)
	if err != nil {
		return res, err
	}
	if _, err := d.Store.Stat(ctx, bucket, key); err != nil {
		return res, fmt.Errorf("failed to find the winner's artifact %s/%s: %w", bucket, key, err)
	}
	p := Promotion{RunID: win.RunID, ModelType: win.ModelType, ConfigHash: ev.ConfigHash, Metrics: win.Metrics,
		Score: win.Score, BaselineScore: win.BaselineScore, Artifact: ArtifactRef{Bucket: bucket, Key: key},
		PromotedAt: d.now(), Candidates: cands}
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return res, fmt.Errorf("failed to encode the promotion record: %w", err)
	}
	// Conditional on the version read: another evaluator (another pod)
	// may have promoted since, a newer data version included. Its
	// promotion stays; this event fails with a plain (retried) error, and
	// its redelivery decides again on what is current then: the stale
	// data check drops an older version, "already promoted" a same one.
	err = d.Store.PutIfVersion(ctx, objstore.BucketModelPromotion, CurrentKey, body, "application/json", prevVersion)
	if errors.Is(err, objstore.ErrVersionMismatch) {
		return res, fmt.Errorf("failed to promote run %s: the current promotion changed meanwhile: %w", p.RunID, err)
	}
	if err != nil {
		return res, fmt.Errorf("failed to write the current promotion: %w", err)
	}
	if hasPrev && prev.RunID != p.RunID {
		if err := d.Tracker.SetTag(ctx, prev.RunID, TagPromoted, "false"); err != nil {
			log.Warn("failed to untag the previously promoted run", "run_id", prev.RunID, "error", err)
		}
	}
	if err := e.announce(ctx, p, runs); err != nil {
		return res, err
	}
	log.Info("promoted", "run_id", p.RunID, "model_type", p.ModelType, "score", p.Score, "baseline_score", p.BaselineScore)
	res.Promoted = &p
	return res, nil
}

// announce finishes a promotion whose current.json is written: it writes
// the history record (after the conditional write, so a pod that lost the
// race leaves none; its key comes from the record, so a redelivery
// rewrites the same one), publishes model-selected, then tags the run
// promoted=true, last, so the
// tag marks a promotion whose every step is done (a redelivery finds it
// missing and calls announce again; both steps are idempotent). Any other
// run of the data version still tagged promoted=true is untagged: at most
// one promoted run per data version.
func (e *Evaluator) announce(ctx context.Context, p Promotion, runs []tracking.Run) error {
	d := e.Deps
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode the promotion record: %w", err)
	}
	histKey := HistoryPrefix + p.PromotedAt.Format(time.RFC3339Nano) + "-" + p.RunID + ".json"
	if err := d.Store.Put(ctx, objstore.BucketModelPromotion, histKey, body, "application/json"); err != nil {
		return fmt.Errorf("failed to write promotion history: %w", err)
	}
	sel := events.Event{Operation: "Promoted: " + p.ModelType, Status: events.StatusSuccess, RunID: p.RunID,
		ConfigHash: p.ConfigHash, ModelType: p.ModelType, Object: objstore.BucketModelPromotion + "/" + CurrentKey}
	if err := d.publish(ctx, events.TopicModelSelected, sel); err != nil {
		return err
	}
	for _, r := range runs {
		if r.Info.RunID != p.RunID && r.Tag(TagPromoted) == "true" {
			if err := d.Tracker.SetTag(ctx, r.Info.RunID, TagPromoted, "false"); err != nil {
				return fmt.Errorf("failed to untag run %s, promoted before %s: %w", r.Info.RunID, p.RunID, err)
			}
		}
	}
	if err := d.Tracker.SetTag(ctx, p.RunID, TagPromoted, "true"); err != nil {
		return fmt.Errorf("failed to tag the promoted run: %w", err)
	}
	return nil
}

func candidateOf(r tracking.Run) (Candidate, error) {
	c := Candidate{RunID: r.Info.RunID, ModelType: r.Tag(TagModelType), StartTime: r.Info.StartTime, Metrics: map[string]float64{}}
	var m, b score.Metrics
	for _, f := range []struct {
		key string
		dst *float64
	}{{"rmse", &m.RMSE}, {"mae", &m.MAE}, {"mse", &m.MSE}, {"baseline_rmse", &b.RMSE}, {"baseline_mae", &b.MAE}, {"baseline_mse", &b.MSE}} {
		v, ok := r.Metric(f.key)
		if !ok {
			return c, fmt.Errorf("run %s lacks metric %q", r.Info.RunID, f.key)
		}
		*f.dst = v
		c.Metrics[f.key] = v
	}
	c.Score, c.BaselineScore = score.Score(m), score.Score(b)
	return c, nil
}

// ReadPromotion returns current.json, or objstore.ErrNotFound before any promotion.
func ReadPromotion(ctx context.Context, s objstore.Reader) (Promotion, error) {
	var p Promotion
	if err := objstore.GetJSON(ctx, s, objstore.BucketModelPromotion, CurrentKey, &p); err != nil {
		return p, fmt.Errorf("failed to read the current promotion: %w", err)
	}
	return p, nil
}

// readPromotionVersioned is ReadPromotion with the version of the body
// read, for writing current.json back only if it is unchanged. Before any
// promotion it returns objstore.VersionAbsent and objstore.ErrNotFound.
func readPromotionVersioned(ctx context.Context, s objstore.Store) (Promotion, string, error) {
	var p Promotion
	b, version, err := s.GetVersioned(ctx, objstore.BucketModelPromotion, CurrentKey)
	if err != nil {
		return p, objstore.VersionAbsent, fmt.Errorf("failed to read the current promotion: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, objstore.VersionAbsent, fmt.Errorf("failed to decode %s/%s: %w", objstore.BucketModelPromotion, CurrentKey, err)
	}
	return p, version, nil
}
