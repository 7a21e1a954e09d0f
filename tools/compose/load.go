package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flts/flts-e2e/e2e/framework/loadtest"
	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/pkg/loadgen"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/progress"
)

// The suite's Load area, which a baseline level repeats so that the two
// compare: e2e/load_helpers_test.go (LoadWorkers, LoadRampUp, loadDuration;
// a test package, so its values are restated here and load_test.go holds
// them to that file) and the defaults of e2e/framework/loadtest.
const (
	DefaultWorkers  = loadtest.DefaultWorkers
	DefaultRampUp   = 10 * time.Second
	DefaultThinkMin = time.Second
	DefaultThinkMax = 2 * time.Second
	// DefaultRequestTimeout is the load generator's per-request timeout.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultDuration is loadDuration on the suite's kind cluster: its
	// scale-up serving budget (2 × 10 s metric resolution + 2 × 10 s HPA
	// sync + 0 s up-window + 15 s slack + 45 s pod start = 100 s) plus
	// the 30 s serve margin. A caller with the Kubernetes level's data
	// uses that level's own duration instead.
	DefaultDuration = 130 * time.Second
	// inferenceReplicas is compose.yaml's inference: one container.
	inferenceReplicas = 1
	// loadStartTimeout bounds the containers' start on top of the
	// duration and a request's timeout (loadtest's StartTimeout).
	loadStartTimeout = 3 * time.Minute
)

// LoadInput is one load level; zero fields take the defaults above.
type LoadInput struct {
	Users    int
	Workers  int
	Duration time.Duration
	RampUp   time.Duration
	ThinkMin time.Duration
	ThinkMax time.Duration
	Timeout  time.Duration
	Mix      string // loadgen.MixPredict (default) or loadgen.MixMixed
}

// withDefaults fills the zero fields and reports every invalid one.
func (in LoadInput) withDefaults() (LoadInput, error) {
	if in.Workers == 0 {
		in.Workers = DefaultWorkers
	}
	if in.Duration == 0 {
		in.Duration = DefaultDuration
	}
	if in.RampUp == 0 {
		in.RampUp = DefaultRampUp
	}
	if in.ThinkMin == 0 && in.ThinkMax == 0 {
		in.ThinkMin, in.ThinkMax = DefaultThinkMin, DefaultThinkMax
	}
	if in.Timeout == 0 {
		in.Timeout = DefaultRequestTimeout
	}
	if in.Mix == "" {
		in.Mix = loadgen.MixPredict
	}
	var errs []error
	if in.Users < 1 {
		errs = append(errs, fmt.Errorf("users must be >= 1, got %d", in.Users))
	}
	if in.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers must be >= 1, got %d", in.Workers))
	}
	// As the suite: never more workers than users.
	in.Workers = min(in.Workers, max(in.Users, 1))
	if in.Duration < 0 || in.RampUp < 0 || in.RampUp >= in.Duration {
		errs = append(errs, fmt.Errorf("need 0 <= ramp-up < duration, got %s and %s", in.RampUp, in.Duration))
	}
	if in.ThinkMin < 0 || in.ThinkMax < in.ThinkMin {
		errs = append(errs, fmt.Errorf("think time must satisfy 0 <= min <= max, got %s..%s", in.ThinkMin, in.ThinkMax))
	}
	if in.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must be > 0, got %s", in.Timeout))
	}
	if in.Mix != loadgen.MixPredict && in.Mix != loadgen.MixMixed {
		errs = append(errs, fmt.Errorf("mix must be %q or %q, got %q", loadgen.MixPredict, loadgen.MixMixed, in.Mix))
	}
	return in, errors.Join(errs...)
}

// workerArgs are the load generator's arguments for worker index: the
// suite's Job's for its pods (loadtest.BuildJob, so the two never drift),
// and the index its pod would read from JOB_COMPLETION_INDEX.
func workerArgs(in LoadInput, index int) []string {
	job := loadtest.BuildJob(loadtest.Input{TargetURL: inferenceURL + "/predict", Users: in.Users, Workers: in.Workers,
		Duration: in.Duration, RampUp: in.RampUp, ThinkMin: in.ThinkMin, ThinkMax: in.ThinkMax, Mix: in.Mix, Timeout: in.Timeout})
	return append(job.Spec.Template.Spec.Containers[0].Args, "--worker-index", strconv.Itoa(index))
}

// LoadResult is a finished level.
type LoadResult struct {
	// Input is the level as run (defaults applied).
	Input LoadInput
	// Summary is merged over the workers, as the suite merges its pods'.
	Summary   loadgen.Summary
	PerWorker []loadgen.Summary
}

// Load runs one level against the stack's inference service: one
// load-generator container per worker on the stack's network, side by side,
// each printing its summary, read and merged as the suite reads and merges
// its pods' (loadtest.ParseResult, loadgen.Merge). A worker that fails
// or reports nothing fails the level (as a failed pod fails the suite's
// Job); the requests' own failures and 429s are the result, not an error.
// Each worker's log goes to Artifacts/compose/loadgen-<users>u-<i>.log.
func (s *Stack) Load(ctx context.Context, in LoadInput) (LoadResult, error) {
	in, err := in.withDefaults()
	if err != nil {
		return LoadResult{}, fmt.Errorf("invalid load level: %w", err)
	}
	res := LoadResult{Input: in}
	if _, err := s.run.Output(ctx, s.loadgen("check", "--url", inferenceURL+"/ready", "--requests", "1")); err != nil {
		return res, fmt.Errorf("inference of stack %s is not ready (`make compose-up` starts it): %w", Project, err)
	}
	logDir := filepath.Join(s.opts.Artifacts, diagnosticsDir)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return res, fmt.Errorf("failed to create %s: %w", logDir, err)
	}
	lctx, cancel := context.WithTimeout(ctx, in.Duration+in.Timeout+loadStartTimeout)
	defer cancel()
	step := progress.Start(s.log, fmt.Sprintf("load: %d users from %d loadgen containers for %s against %s",
		in.Users, in.Workers, in.Duration, Project), 0)
	step.Count("workers done", in.Workers)
	parts := make([]loadgen.Summary, in.Workers)
	errs := make([]error, in.Workers)
	var wg sync.WaitGroup
	for i := range in.Workers {
		wg.Go(func() {
			defer step.Add(1)
			parts[i], errs[i] = s.loadWorker(lctx, in, i, filepath.Join(logDir, fmt.Sprintf("loadgen-%du-%d.log", in.Users, i)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		step.Stop()
		// A killed `compose run` leaves its container running: the client
		// removes it (--rm), and the client is gone.
		if ctx.Err() != nil {
			// Interrupted: every worker's error would only say "killed".
			err = ctx.Err()
		}
		return res, errors.Join(fmt.Errorf("load level of %d users on %s failed: %w", in.Users, Project, err), s.removeLoadgens(ctx))
	}
	step.Done()
	res.PerWorker = parts
	res.Summary = loadgen.Merge(parts...)
	s.log.Info("load level finished", "users", in.Users, "requests", res.Summary.Requests, "rps", fmt.Sprintf("%.1f", res.Summary.RPS),
		"p95", res.Summary.P95.String(), "failures", res.Summary.FailureCount(), "throttled_429", res.Summary.Throttled429)
	return res, nil
}

// loadWorker runs worker index and parses its result line from the
// container's standard output; its standard error (the generator's log)
// goes to logPath.
func (s *Stack) loadWorker(ctx context.Context, in LoadInput, index int, logPath string) (loadgen.Summary, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return loadgen.Summary{}, fmt.Errorf("worker %d: failed to create its log: %w", index, err)
	}
	defer f.Close()
	cmd := s.loadgen(workerArgs(in, index)...)
	cmd.Stderr = f
	out, err := s.run.Output(ctx, cmd)
	if err != nil {
		return loadgen.Summary{}, fmt.Errorf("worker %d (log %s): %w", index, logPath, err)
	}
	sum, err := loadtest.ParseResult(strings.NewReader(out))
	if err != nil {
		return loadgen.Summary{}, fmt.Errorf("worker %d reported no result (log %s): %w", index, logPath, err)
	}
	return sum, nil
}

// removeLoadgens removes the project's load-generator containers, after
// a level that was cut short.
func (s *Stack) removeLoadgens(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosticsTimeout)
	defer cancel()
	ids, err := s.labelled(ctx, "ps", "--all", "--quiet", "--filter", "label=com.docker.compose.service="+loadService)
	if err != nil || len(ids) == 0 {
		return err
	}
	if err := s.run.Run(ctx, s.docker(append([]string{"rm", "--force"}, ids...)...)); err != nil {
		return fmt.Errorf("failed to remove the load generators left running: %w", err)
	}
	return nil
}

// Baseline turns a finished level into the report's baseline data,
// stamped with the time and the commit it ran from.
func (s *Stack) Baseline(ctx context.Context, res LoadResult) report.BaselineResult {
	return report.BaselineResult{Platform: Platform, Users: res.Input.Users, Workers: res.Input.Workers, Duration: res.Input.Duration,
		Summary: res.Summary, Replicas: inferenceReplicas, Time: time.Now().UTC(), Commit: s.commit(ctx)}
}

// commit names the checkout's commit, "-dirty" with uncommitted changes
// (the figures then come from code no commit holds); "unknown" outside git.
func (s *Stack) commit(ctx context.Context) string {
	out, err := s.run.Output(ctx, &execx.Cmd{Name: "git", Args: []string{"describe", "--always", "--dirty", "--abbrev=12"}, Dir: s.opts.RepoRoot})
	if err != nil {
		s.log.Warn("commit unknown", "error", err)
		return "unknown"
	}
	return strings.TrimSpace(out)
}
