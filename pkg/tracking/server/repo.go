package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// apiError is an error with its MLflow error code and HTTP status.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func notFound(format string, a ...any) error {
	return &apiError{status: 404, code: tracking.ErrorCodeNotFound, message: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) error {
	return &apiError{status: 400, code: tracking.ErrorCodeInvalidParameter, message: fmt.Sprintf(format, a...)}
}

// repo keeps experiments and runs in the object store.
type repo struct {
	store  objstore.Store
	bucket string
	now    func() time.Time
	// expMu serialises experiment creation (unique names, sequential ids).
	expMu sync.Mutex
	runMu *keyLock
}

func newRepo(store objstore.Store, bucket string, now func() time.Time) *repo {
	return &repo{store: store, bucket: bucket, now: now, runMu: newKeyLock()}
}

func (r *repo) nowMillis() int64 { return r.now().UnixMilli() }

func (r *repo) getJSON(ctx context.Context, key string, v any) error {
	return objstore.GetJSON(ctx, r.store, r.bucket, key, v)
}

func (r *repo) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", key, err)
	}
	return r.store.Put(ctx, r.bucket, key, b, "application/json")
}

// ---- experiments ----

func experimentKey(id string) string { return experimentsPrefix + id + ".json" }

func (r *repo) listExperiments(ctx context.Context) ([]tracking.Experiment, error) {
	objs, err := r.store.List(ctx, r.bucket, experimentsPrefix)
	if err != nil {
		return nil, fmt.Errorf("failed to list experiments: %w", err)
	}
	exps := make([]tracking.Experiment, 0, len(objs))
	for _, o := range objs {
		var e tracking.Experiment
		if err := r.getJSON(ctx, o.Key, &e); err != nil {
			if errors.Is(err, objstore.ErrNotFound) {
				continue
			}
			return nil, err
		}
		exps = append(exps, e)
	}
	// Numeric ids: sort numerically so "10" follows "9".
	sort.Slice(exps, func(i, j int) bool { return idLess(exps[i].ExperimentID, exps[j].ExperimentID) })
	return exps, nil
}

func idLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}

func (r *repo) getExperiment(ctx context.Context, id string) (tracking.Experiment, error) {
	if err := validateID("experiment_id", id); err != nil {
		return tracking.Experiment{}, err
	}
	var e tracking.Experiment
	if err := r.getJSON(ctx, experimentKey(id), &e); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return tracking.Experiment{}, notFound("No Experiment with id=%s exists", id)
		}
		return tracking.Experiment{}, err
	}
	return e, nil
}

func (r *repo) getExperimentByName(ctx context.Context, name string) (tracking.Experiment, error) {
	exps, err := r.listExperiments(ctx)
	if err != nil {
		return tracking.Experiment{}, err
	}
	for _, e := range exps {
		if e.Name == name {
			return e, nil
		}
	}
	return tracking.Experiment{}, notFound("Could not find experiment with name '%s'", name)
}

func (r *repo) createExperiment(ctx context.Context, name, artifactLocation string, tags []tracking.RunTag) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", invalid("Invalid value for parameter 'name' supplied: experiment name must not be empty")
	}
	if len(name) > 500 {
		return "", invalid("Experiment name exceeds 500 characters")
	}
	r.expMu.Lock()
	defer r.expMu.Unlock()
	exps, err := r.listExperiments(ctx)
	if err != nil {
		return "", err
	}
	next := 0
	for _, e := range exps {
		if e.Name == name {
			return "", &apiError{status: 400, code: tracking.ErrorCodeAlreadyExists,
				message: fmt.Sprintf("Experiment '%s' already exists.", name)}
		}
		if n, err := strconv.Atoi(e.ExperimentID); err == nil && n >= next {
			next = n + 1
		}
	}
	id := strconv.Itoa(next)
	if artifactLocation == "" {
		artifactLocation = fmt.Sprintf("s3://%s/%s", r.bucket, id)
	}
	now := r.nowMillis()
	e := tracking.Experiment{ExperimentID: id, Name: name, ArtifactLocation: artifactLocation,
		LifecycleStage: lifecycleActive, CreationTime: now, LastUpdateTime: now, Tags: tags}
	if err := r.putJSON(ctx, experimentKey(id), e); err != nil {
		return "", fmt.Errorf("failed to store experiment %q: %w", name, err)
	}
	return id, nil
}

// ---- runs ----

func runKey(expID, runID string) string { return path.Join(expID, runID, runMetaName) }

func newRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("failed to generate run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validateID keeps ids usable as one path segment of an object key.
func validateID(field, id string) error {
	if id == "" {
		return invalid("Missing value for required parameter '%s'", field)
	}
	if len(id) > 64 || strings.ContainsAny(id, "/\\. \x00") {
		return invalid("Invalid value %q for parameter '%s'", id, field)
	}
	return nil
}

func (r *repo) createRun(ctx context.Context, expID, runName, userID string, startTime int64, tags []tracking.RunTag) (tracking.Run, error) {
	exp, err := r.getExperiment(ctx, expID)
	if err != nil {
		return tracking.Run{}, err
	}
	if err := validateTags(tags); err != nil {
		return tracking.Run{}, err
	}
	runID, err := newRunID()
	if err != nil {
		return tracking.Run{}, err
	}
	if runName == "" {
		for _, t := range tags {
			if t.Key == tagRunName {
				runName = t.Value
			}
		}
	}
	if runName == "" {
		runName = "run-" + runID[:8]
	}
	if startTime == 0 {
		startTime = r.nowMillis()
	}
	run := tracking.Run{
		Info: tracking.RunInfo{
			RunID: runID, RunUUID: runID, ExperimentID: exp.ExperimentID, RunName: runName, UserID: userID,
			Status: tracking.StatusRunning, StartTime: startTime, LifecycleStage: lifecycleActive,
			ArtifactURI: strings.TrimSuffix(exp.ArtifactLocation, "/") + "/" + runID + "/" + artifactsDir,
		},
	}
	applyTags(&run, tags)
	applyTags(&run, []tracking.RunTag{{Key: tagRunName, Value: runName}})
	// The index goes first: a store failing between the two writes leaves
	// an index entry to nothing (getRun: not found, search: not listed),
	// never a run that search lists as RUNNING and no update can reach.
	if err := r.store.Put(ctx, r.bucket, runIndexPrefix+runID, []byte(expID), "text/plain"); err != nil {
		return tracking.Run{}, fmt.Errorf("failed to index run %s: %w", runID, err)
	}
	if err := r.putJSON(ctx, runKey(expID, runID), run); err != nil {
		return tracking.Run{}, fmt.Errorf("failed to store run: %w", err)
	}
	return run, nil
}

func (r *repo) runExperiment(ctx context.Context, runID string) (string, error) {
	if err := validateID("run_id", runID); err != nil {
		return "", err
	}
	b, err := r.store.Get(ctx, r.bucket, runIndexPrefix+runID)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return "", notFound("Run '%s' not found", runID)
		}
		return "", fmt.Errorf("failed to look up run %s: %w", runID, err)
	}
	return string(b), nil
}

func (r *repo) getRun(ctx context.Context, runID string) (tracking.Run, error) {
	expID, err := r.runExperiment(ctx, runID)
	if err != nil {
		return tracking.Run{}, err
	}
	var run tracking.Run
	if err := r.getJSON(ctx, runKey(expID, runID), &run); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return tracking.Run{}, notFound("Run '%s' not found", runID)
		}
		return tracking.Run{}, err
	}
	return run, nil
}

// updateRun reads, changes and writes a run under its lock, so concurrent
// updates to one run never lose a write. mutate validates before changing.
func (r *repo) updateRun(ctx context.Context, runID string, mutate func(*tracking.Run) error) (tracking.Run, error) {
	if err := validateID("run_id", runID); err != nil {
		return tracking.Run{}, err
	}
	unlock := r.runMu.lock(runID)
	defer unlock()
	run, err := r.getRun(ctx, runID)
	if err != nil {
		return tracking.Run{}, err
	}
	if err := mutate(&run); err != nil {
		return tracking.Run{}, err
	}
	if err := r.putJSON(ctx, runKey(run.Info.ExperimentID, runID), run); err != nil {
		return tracking.Run{}, fmt.Errorf("failed to store run %s: %w", runID, err)
	}
	return run, nil
}

// runsOf returns every run of the experiments, unordered.
func (r *repo) runsOf(ctx context.Context, expIDs []string) ([]tracking.Run, error) {
	var runs []tracking.Run
	for _, expID := range expIDs {
		if _, err := r.getExperiment(ctx, expID); err != nil {
			return nil, err
		}
		objs, err := r.store.List(ctx, r.bucket, expID+"/")
		if err != nil {
			return nil, fmt.Errorf("failed to list runs of experiment %s: %w", expID, err)
		}
		for _, o := range objs {
			parts := strings.Split(o.Key, "/")
			if len(parts) != 3 || parts[2] != runMetaName {
				continue // artifacts and other objects
			}
			var run tracking.Run
			if err := r.getJSON(ctx, o.Key, &run); err != nil {
				if errors.Is(err, objstore.ErrNotFound) {
					continue
				}
				return nil, err
			}
			runs = append(runs, run)
		}
	}
	return runs, nil
}

// ---- run data changes (callers hold the run lock) ----

const (
	maxKeyLen        = 250
	maxParamValueLen = 6000
	maxTagValueLen   = 8000
)

func validateKey(kind, key string) error {
	if key == "" {
		return invalid("Invalid %s name: must not be empty", kind)
	}
	if len(key) > maxKeyLen {
		return invalid("Invalid %s name '%s': longer than %d characters", kind, key[:32]+"…", maxKeyLen)
	}
	for _, c := range key {
		ok := c == '_' || c == '-' || c == '.' || c == ' ' || c == '/' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return invalid("Invalid %s name '%s': names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/)", kind, key)
		}
	}
	if strings.HasPrefix(key, "/") || slices.Contains(strings.Split(key, "/"), "..") {
		return invalid("Invalid %s name '%s': must be a relative path without '..'", kind, key)
	}
	return nil
}

func validateTags(tags []tracking.RunTag) error {
	for _, t := range tags {
		if err := validateKey("tag", t.Key); err != nil {
			return err
		}
		if len(t.Value) > maxTagValueLen {
			return invalid("Tag '%s' value exceeds %d characters", t.Key, maxTagValueLen)
		}
	}
	return nil
}

func validateMetrics(ms []tracking.Metric) error {
	for _, m := range ms {
		if err := validateKey("metric", m.Key); err != nil {
			return err
		}
	}
	return nil
}

func validateParams(run *tracking.Run, ps []tracking.Param) error {
	seen := map[string]string{}
	for _, p := range ps {
		if err := validateKey("param", p.Key); err != nil {
			return err
		}
		if len(p.Value) > maxParamValueLen {
			return invalid("Param '%s' value exceeds %d characters", p.Key, maxParamValueLen)
		}
		old, exists := seen[p.Key]
		if !exists {
			for _, q := range run.Data.Params {
				if q.Key == p.Key {
					old, exists = q.Value, true
				}
			}
		}
		// MLflow params are immutable: re-logging the same value is fine,
		// changing it is an error.
		if exists && old != p.Value {
			return invalid("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				p.Key, old, run.Info.RunID, p.Value)
		}
		seen[p.Key] = p.Value
	}
	return nil
}

func applyTags(run *tracking.Run, tags []tracking.RunTag) {
	for _, t := range tags {
		i := slices.IndexFunc(run.Data.Tags, func(x tracking.RunTag) bool { return x.Key == t.Key })
		if i >= 0 {
			run.Data.Tags[i].Value = t.Value
		} else {
			run.Data.Tags = append(run.Data.Tags, t)
		}
		if t.Key == tagRunName && t.Value != "" {
			run.Info.RunName = t.Value
		}
	}
}

func applyParams(run *tracking.Run, ps []tracking.Param) {
	for _, p := range ps {
		if !slices.ContainsFunc(run.Data.Params, func(x tracking.Param) bool { return x.Key == p.Key }) {
			run.Data.Params = append(run.Data.Params, p)
		}
	}
}

// applyMetrics keeps the latest value of each key, as MLflow reports it:
// highest step, then latest timestamp.
func applyMetrics(run *tracking.Run, ms []tracking.Metric, now int64) {
	for _, m := range ms {
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		i := slices.IndexFunc(run.Data.Metrics, func(x tracking.Metric) bool { return x.Key == m.Key })
		if i < 0 {
			run.Data.Metrics = append(run.Data.Metrics, m)
			continue
		}
		old := run.Data.Metrics[i]
		if m.Step > old.Step || (m.Step == old.Step && m.Timestamp >= old.Timestamp) {
			run.Data.Metrics[i] = m
		}
	}
}
