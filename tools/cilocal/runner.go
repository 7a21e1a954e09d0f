// Package cilocal runs one job of a GitHub Actions workflow on this machine
// the way an ubuntu runner would: a fresh checkout in a workspace owned by
// an unprivileged user with passwordless sudo, every run: step executed as
// that user with the runner's environment, and the few actions the
// project's workflow uses (checkout, setup-go, cache, upload-artifact)
// emulated with local equivalents. It is the proof that the workflow's own
// steps run, not a copy of them.
package cilocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/workflow"
)

// Options say which job and leg to run, where and as whom.
type Options struct {
	// RepoRoot is the repository whose committed HEAD is checked out.
	RepoRoot string
	// Workflow is the parsed workflow file.
	Workflow *workflow.Workflow
	// JobID names the job; Leg is its matrix leg.
	JobID string
	Leg   map[string]any
	// User runs the steps.
	User *User
	// WorkDir is the workspace (GITHUB_WORKSPACE), created empty.
	WorkDir string
	// TempDir is RUNNER_TEMP, created empty.
	TempDir string
	// CacheDir persists actions/cache entries between runs.
	CacheDir string
	// ArtifactsDir receives actions/upload-artifact uploads.
	ArtifactsDir string
	// PassEnv names variables of this process handed to every step (the
	// machine's proxy settings, as a runner image would carry them).
	PassEnv []string
	// Out receives the steps' output.
	Out    io.Writer
	Logger *slog.Logger
}

// StepResult is one row of the summary.
type StepResult struct {
	Title   string
	Outcome string // success, failure, skipped
	Elapsed time.Duration
}

// Result is what a job run did.
type Result struct {
	Steps   []StepResult
	Elapsed time.Duration
	Failed  bool
}

// Summary formats the result as a table.
func (r Result) Summary() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  step\toutcome\ttime")
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", s.Title, s.Outcome, s.Elapsed.Round(time.Second))
	}
	verdict := "success"
	if r.Failed {
		verdict = "failure"
	}
	fmt.Fprintf(w, "  job\t%s\t%s\n", verdict, r.Elapsed.Round(time.Second))
	w.Flush()
	return b.String()
}

// job is the state of one job run.
type job struct {
	opts      Options
	def       *workflow.Job
	env       map[string]string // workflow and job env, then GITHUB_ENV additions
	path      []string          // GITHUB_PATH additions, newest first
	steps     map[string]stepState
	failed    bool
	cancelled bool
	posts     []func(ctx context.Context) error
	runID     string
	sha       string
}

type stepState struct {
	outcome string
	outputs map[string]string
}

// Run runs the job. ctx ending (Ctrl-C) cancels it the way GitHub cancels
// a run: the running step is interrupted, later steps run only if their
// if: allows a cancelled job (always(), cancelled()).
func Run(ctx context.Context, opts Options) (Result, error) {
	start := time.Now()
	def := opts.Workflow.Jobs[opts.JobID]
	if def == nil {
		return Result{}, fmt.Errorf("no job %q in the workflow (jobs: %s)", opts.JobID, strings.Join(opts.Workflow.JobIDs(), ", "))
	}
	j := &job{opts: opts, def: def, env: map[string]string{}, steps: map[string]stepState{},
		runID: strconv.FormatInt(start.Unix(), 10)}
	sha, err := execx.Command("git", "-C", opts.RepoRoot, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("failed to read the HEAD commit of %s: %w", opts.RepoRoot, err)
	}
	j.sha = strings.TrimSpace(sha)
	// The runner creates the workspace before any step (checkout clones
	// into it).
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("failed to create the workspace: %w", err)
	}
	if err := opts.User.Chown(opts.WorkDir); err != nil {
		return Result{}, err
	}
	for _, src := range []map[string]string{opts.Workflow.Env, def.Env} {
		for _, k := range slices.Sorted(maps.Keys(src)) {
			v, err := workflow.Interpolate(src[k], j)
			if err != nil {
				return Result{}, fmt.Errorf("env %s: %w", k, err)
			}
			j.env[k] = v
		}
	}
	if len(def.Needs) > 0 {
		opts.Logger.Info("this job needs other jobs on GitHub; they are not run here", "needs", strings.Join(def.Needs, ", "))
	}
	jobCtx, cancel, err := j.withTimeout(ctx, def.TimeoutMinutes, "job")
	if err != nil {
		return Result{}, err
	}
	defer cancel()

	var res Result
	for i, step := range def.Steps {
		stepCtx := jobCtx
		if jobCtx.Err() != nil {
			// A cancelled run still runs the steps whose if: allows it
			// (uploading the artifacts), as GitHub does.
			j.cancelled = true
			stepCtx = context.WithoutCancel(jobCtx)
		}
		res.Steps = append(res.Steps, j.runStep(stepCtx, i, step))
	}
	// Post steps (actions/cache saving) run last, newest first, as on
	// GitHub, and only for a job that succeeded.
	for i := len(j.posts) - 1; i >= 0 && !j.failed && !j.cancelled; i-- {
		if err := j.posts[i](context.WithoutCancel(ctx)); err != nil {
			opts.Logger.Warn("post step failed", "err", err)
		}
	}
	res.Failed = j.failed || j.cancelled
	res.Elapsed = time.Since(start)
	return res, nil
}

func (j *job) withTimeout(ctx context.Context, minutes workflow.Scalar, what string) (context.Context, context.CancelFunc, error) {
	if minutes == "" {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	s, err := workflow.Interpolate(string(minutes), j)
	if err != nil {
		return nil, nil, fmt.Errorf("%s timeout-minutes: %w", what, err)
	}
	m, err := strconv.ParseFloat(s, 64)
	if err != nil || m <= 0 {
		return nil, nil, fmt.Errorf("%s timeout-minutes %q is not a positive number", what, s)
	}
	// The workflow's own bound, enforced as GitHub enforces it.
	c, cancel := context.WithTimeout(ctx, time.Duration(m*float64(time.Minute)))
	return c, cancel, nil
}

func (j *job) runStep(ctx context.Context, i int, step workflow.Step) StepResult {
	title := step.Title()
	if t, err := workflow.Interpolate(title, j); err == nil {
		title = t
	}
	head := fmt.Sprintf("[%d/%d] %s", i+1, len(j.def.Steps), title)
	sr := StepResult{Title: title, Outcome: "skipped"}
	run, err := workflow.Condition(step.If, j)
	if err != nil {
		fmt.Fprintf(j.opts.Out, "\n==> %s: bad if: %v\n", head, err)
		j.failed = true
		sr.Outcome = "failure"
		j.record(step, sr.Outcome, nil)
		return sr
	}
	if !run {
		fmt.Fprintf(j.opts.Out, "\n==> %s: skipped (if: %s)\n", head, strings.TrimSpace(step.If))
		j.record(step, sr.Outcome, nil)
		return sr
	}
	fmt.Fprintf(j.opts.Out, "\n==> %s (%s)\n", head, time.Now().Format("15:04:05"))
	start := time.Now()
	outputs, err := j.execStep(ctx, step)
	sr.Elapsed = time.Since(start)
	sr.Outcome = "success"
	if err != nil {
		sr.Outcome = "failure"
		j.failed = true
		fmt.Fprintf(j.opts.Out, "<== %s: failed after %s: %v\n", head, sr.Elapsed.Round(time.Second), err)
	} else {
		fmt.Fprintf(j.opts.Out, "<== %s: success in %s\n", head, sr.Elapsed.Round(time.Second))
	}
	j.record(step, sr.Outcome, outputs)
	return sr
}

func (j *job) record(step workflow.Step, outcome string, outputs map[string]string) {
	if step.ID != "" {
		j.steps[step.ID] = stepState{outcome: outcome, outputs: outputs}
	}
}

func (j *job) execStep(ctx context.Context, step workflow.Step) (map[string]string, error) {
	stepCtx, cancel, err := j.withTimeout(ctx, step.TimeoutMinutes, "step")
	if err != nil {
		return nil, err
	}
	defer cancel()
	with := map[string]string{}
	for k, v := range step.With {
		s, err := workflow.Interpolate(string(v), j)
		if err != nil {
			return nil, fmt.Errorf("with.%s: %w", k, err)
		}
		with[k] = s
	}
	if step.Uses != "" {
		return j.runAction(stepCtx, step.Uses, with)
	}
	return j.runScript(stepCtx, step)
}

// Lookup resolves the contexts the workflow reads.
func (j *job) Lookup(path []string) (workflow.Value, error) {
	get := func(m map[string]string, k string) workflow.Value {
		if v, ok := m[k]; ok {
			return v
		}
		return nil
	}
	switch {
	case path[0] == "matrix" && len(path) == 2:
		if v, ok := j.opts.Leg[path[1]]; ok {
			return v, nil
		}
		return nil, nil
	case path[0] == "env" && len(path) == 2:
		return get(j.env, path[1]), nil
	case path[0] == "github" && len(path) == 2:
		return get(j.githubContext(), path[1]), nil
	case path[0] == "runner" && len(path) == 2:
		return get(map[string]string{"os": "Linux", "arch": "X64", "temp": j.opts.TempDir}, path[1]), nil
	case path[0] == "steps" && len(path) >= 3:
		st, ok := j.steps[path[1]]
		if !ok {
			return nil, nil
		}
		switch {
		case path[2] == "outputs" && len(path) == 4:
			return get(st.outputs, path[3]), nil
		case (path[2] == "outcome" || path[2] == "conclusion") && len(path) == 3:
			return st.outcome, nil
		}
	}
	return nil, fmt.Errorf("%s is not known to this runner", strings.Join(path, "."))
}

func (j *job) githubContext() map[string]string {
	return map[string]string{
		"workspace":  j.opts.WorkDir,
		"run_id":     j.runID,
		"sha":        j.sha,
		"ref":        "refs/heads/main",
		"event_name": "workflow_dispatch",
		"repository": "flts/flts-e2e",
		"job":        j.opts.JobID,
	}
}

// Call runs the functions the workflow uses (names in lower case).
func (j *job) Call(name string, args []workflow.Value) (workflow.Value, error) {
	switch name {
	case "always":
		return true, nil
	case "cancelled":
		return j.cancelled, nil
	case "success":
		return !j.failed && !j.cancelled, nil
	case "failure":
		return j.failed, nil
	case "hashfiles":
		patterns := make([]string, len(args))
		for i, a := range args {
			patterns[i] = workflow.String(a)
		}
		return workflow.HashFiles(j.opts.WorkDir, patterns)
	}
	return nil, fmt.Errorf("function %s() is not known to this runner", name)
}

// runnerEnv is the environment of every step: the runner's variables, the
// workflow's and the step's env.
func (j *job) runnerEnv(step workflow.Step, files map[string]string) ([]string, error) {
	u := j.opts.User
	path := append(slices.Clone(j.path), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	env := map[string]string{
		"HOME": u.Home, "USER": u.Name, "LOGNAME": u.Name, "SHELL": "/bin/bash", "LANG": "C.UTF-8",
		"PATH": strings.Join(path, ":"),
		"CI":   "true", "GITHUB_ACTIONS": "true",
		"GITHUB_WORKSPACE": j.opts.WorkDir, "GITHUB_RUN_ID": j.runID, "GITHUB_SHA": j.sha,
		"GITHUB_REF": "refs/heads/main", "GITHUB_JOB": j.opts.JobID, "GITHUB_REPOSITORY": "flts/flts-e2e",
		"RUNNER_OS": "Linux", "RUNNER_TEMP": j.opts.TempDir,
	}
	for _, k := range j.opts.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	maps.Copy(env, j.env)
	for _, k := range slices.Sorted(maps.Keys(step.Env)) {
		v, err := workflow.Interpolate(step.Env[k], j)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		env[k] = v
	}
	maps.Copy(env, files)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// runScript runs a run: step as the runner's user, in its own process
// group, with GitHub's default shell.
func (j *job) runScript(ctx context.Context, step workflow.Step) (map[string]string, error) {
	script, err := workflow.Interpolate(step.Run, j)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(j.opts.TempDir, "step-")
	if err != nil {
		return nil, fmt.Errorf("failed to create the step's files: %w", err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_ENV":          filepath.Join(dir, "env"),
		"GITHUB_PATH":         filepath.Join(dir, "path"),
		"GITHUB_STATE":        filepath.Join(dir, "state"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
	scriptPath := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return nil, fmt.Errorf("failed to write the step's script: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return nil, fmt.Errorf("failed to create %s: %w", f, err)
		}
	}
	if err := j.opts.User.Chown(dir); err != nil {
		return nil, err
	}
	var argv []string
	switch step.Shell {
	case "": // GitHub's default on Linux: no pipefail
		argv = []string{"bash", "-e", scriptPath}
	case "bash":
		argv = []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", scriptPath}
	case "sh":
		argv = []string{"sh", "-e", scriptPath}
	default:
		return nil, fmt.Errorf("shell %q is not supported by this runner", step.Shell)
	}
	env, err := j.runnerEnv(step, files)
	if err != nil {
		return nil, err
	}
	runErr := j.runAsUser(ctx, j.opts.WorkDir, env, argv...)
	// Read also after a failure, as GitHub does.
	outputs, err := j.readStepFiles(files)
	return outputs, errors.Join(runErr, err)
}

// readStepFiles applies what a step wrote to GITHUB_ENV and GITHUB_PATH
// and returns its GITHUB_OUTPUT.
func (j *job) readStepFiles(files map[string]string) (map[string]string, error) {
	outputs, err := readKeyValues(files["GITHUB_OUTPUT"])
	if err != nil {
		return nil, err
	}
	added, err := readKeyValues(files["GITHUB_ENV"])
	if err != nil {
		return outputs, err
	}
	maps.Copy(j.env, added)
	paths, err := os.ReadFile(files["GITHUB_PATH"])
	if err != nil {
		return outputs, fmt.Errorf("failed to read GITHUB_PATH: %w", err)
	}
	for _, p := range strings.Split(strings.TrimSpace(string(paths)), "\n") {
		if p != "" {
			j.path = append([]string{p}, j.path...)
		}
	}
	return outputs, nil
}

// runAsUser runs argv as the runner's user with the job's output, in a
// process group of its own, interrupted as GitHub interrupts a step when
// ctx ends. A nil env is this process's environment.
func (j *job) runAsUser(ctx context.Context, dir string, env []string, argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = j.opts.Out, j.opts.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: j.opts.User.Credential()}
	return runInterruptible(ctx, cmd)
}

// runInterruptible runs cmd (started in its own process group) until it
// exits or ctx ends. On ctx's end it
// does what GitHub's runner does to a step: SIGINT to the step's process
// (the shell, not its children), SIGTERM 7.5 s later, SIGKILL 2.5 s after
// that. Then, beyond GitHub (whose runner cleans up orphans at the end of
// the job), the whole process group is killed so nothing of the step
// outlives it here.
func runInterruptible(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start %s: %w", cmd.Args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitError(err)
	case <-ctx.Done():
	}
	pid := cmd.Process.Pid
	for _, s := range []struct {
		pid   int
		sig   syscall.Signal
		grace time.Duration
	}{
		{pid, syscall.SIGINT, 7500 * time.Millisecond},
		{pid, syscall.SIGTERM, 2500 * time.Millisecond},
		{pid, syscall.SIGKILL, 5 * time.Second},
		// Beyond GitHub: the rest of the group (a child still holding the
		// output pipe keeps Wait from returning).
		{-pid, syscall.SIGKILL, time.Minute},
	} {
		_ = syscall.Kill(s.pid, s.sig)
		select {
		case <-done:
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		case <-time.After(s.grace):
		}
	}
	return fmt.Errorf("interrupted (%w) and still running after SIGKILL", context.Cause(ctx))
}

func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("process completed with exit code %d: %w", ee.ExitCode(), err)
	}
	return err
}

// readKeyValues reads a GITHUB_OUTPUT or GITHUB_ENV file: name=value lines
// and name<<DELIMITER blocks.
func readKeyValues(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20) // values may be long lines
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if k, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(k, "=") {
			var lines []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				lines = append(lines, sc.Text())
			}
			if !closed {
				return nil, fmt.Errorf("%s: %s<<%s is never closed", path, k, delim)
			}
			out[k] = strings.Join(lines, "\n")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: line %q is neither name=value nor name<<DELIMITER", path, line)
		}
		out[k] = v
	}
	return out, sc.Err()
}
