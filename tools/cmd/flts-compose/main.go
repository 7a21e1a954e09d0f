// Command flts-compose runs the Docker Compose baseline
// (fixtures/compose/compose.yaml, package tools/compose):
//
//	flts-compose up   [-compose BIN] [-tag T] [-artifacts DIR] [-wait-timeout D]
//	flts-compose load -users N [-duration D] [-workers W] [-ramp-up D] [-think-min D] [-think-max D] [-timeout D] [-mix M] [common flags]
//	flts-compose down [common flags]
//
// `load` saves the level under <artifacts>/report-data and regenerates
// K8S_LOAD_TEST_REPORT.md, whose "Docker Compose baseline vs Kubernetes"
// section sets it beside the suite's level of the same users. Environment
// defaults: IMAGE_TAG, ARTIFACTS. Exit status 2 means bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/loadgen"
	"github.com/flts/flts-e2e/tools/compose"
	"github.com/flts/flts-e2e/tools/reporoot"
)

const usage = `usage: flts-compose <command> [flags]

commands:
  up    start the stack from the suite's images (make images), wait until a model is
        promoted and inference answers; logs go to <artifacts>/compose on failure
  load  one load level from loadgen containers on the stack's network (-users N);
        saves it under <artifacts>/report-data and rewrites the load-test report
  down  remove the stack's containers, network and volumes; check nothing is left

environment: IMAGE_TAG, ARTIFACTS
`

func main() { command(os.Stdout).Main() }

// command is the CLI on config.Command's skeleton (exit 0, 1, or 2 for a
// bad command line; SIGINT and SIGTERM cancel the context); results go to
// stdout, progress to stderr.
func command(stdout io.Writer) config.Command[options] {
	return config.Command[options]{
		Name:   "flts-compose",
		Parse:  parse,
		Logger: func(_ options, stderr io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(stderr, nil)) },
		Run: func(ctx context.Context, o options, log *slog.Logger) error {
			return dispatch(ctx, o, log, stdout, o.stderr)
		},
		Usage: func(w io.Writer, err error) { fmt.Fprintf(w, "flts-compose: %v\n\n%s", err, usage) },
	}
}

// options are the parsed command line; zero durations mean "the default".
type options struct {
	stderr          io.Writer // the Compose CLI's own progress goes there
	cmd             string
	composeBin, tag string
	artifacts       string
	waitTimeout     time.Duration
	load            compose.LoadInput
	autoDuration    bool // -duration not given: the Kubernetes level's, else the default
}

func parse(args []string, getenv config.Getenv, stderr io.Writer) (options, error) {
	o := options{stderr: stderr}
	if len(args) == 0 {
		return o, errors.New("missing command")
	}
	o.cmd = args[0]
	fs := flag.NewFlagSet("flts-compose "+o.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := config.NewEnv(getenv)
	fs.StringVar(&o.composeBin, "compose", "", "Compose CLI (default _output/bin/docker-compose, built by make)")
	fs.StringVar(&o.tag, "tag", env.String("IMAGE_TAG", "e2e"), "tag of the flts.local images (env IMAGE_TAG)")
	fs.StringVar(&o.artifacts, "artifacts", env.String("ARTIFACTS", ""), "artifacts directory (env ARTIFACTS, default _artifacts)")
	switch o.cmd {
	case "up":
		fs.DurationVar(&o.waitTimeout, "wait-timeout", compose.DefaultUpTimeout, "longest wait for the stack to turn healthy")
	case "load":
		fs.IntVar(&o.load.Users, "users", 0, "virtual users (required)")
		fs.DurationVar(&o.load.Duration, "duration", 0, fmt.Sprintf("length of the level, ramp-up included (default: the Kubernetes level's of the same users in the artifacts, else %s, the suite's on its kind cluster)", compose.DefaultDuration))
		fs.IntVar(&o.load.Workers, "workers", compose.DefaultWorkers, "load-generator containers sharing the users")
		fs.DurationVar(&o.load.RampUp, "ramp-up", compose.DefaultRampUp, "linear ramp-up of the users")
		fs.DurationVar(&o.load.ThinkMin, "think-min", compose.DefaultThinkMin, "shortest think time")
		fs.DurationVar(&o.load.ThinkMax, "think-max", compose.DefaultThinkMax, "longest think time")
		fs.DurationVar(&o.load.Timeout, "timeout", compose.DefaultRequestTimeout, "per-request timeout")
		fs.StringVar(&o.load.Mix, "mix", loadgen.MixPredict, `endpoint mix: "predict" or "mixed"`)
	case "down":
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return o, flag.ErrHelp
	default:
		return o, fmt.Errorf("unknown command %q", o.cmd)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	var errs []error
	if err := env.Err(); err != nil {
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.tag == "" {
		errs = append(errs, errors.New("-tag must not be empty"))
	}
	if o.waitTimeout < 0 {
		errs = append(errs, fmt.Errorf("-wait-timeout must be > 0, got %s", o.waitTimeout))
	}
	if o.cmd == "load" {
		// Flags set to zero would silently mean "default" in LoadInput:
		// say so instead.
		if o.load.Users < 1 {
			errs = append(errs, fmt.Errorf("-users must be >= 1, got %d", o.load.Users))
		}
		if o.load.Workers < 1 {
			errs = append(errs, fmt.Errorf("-workers must be >= 1, got %d", o.load.Workers))
		}
		if o.load.Duration < 0 || o.load.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("-duration must be > 0 and -timeout > 0, got %s and %s", o.load.Duration, o.load.Timeout))
		}
		o.autoDuration = o.load.Duration == 0
		if o.load.Duration > 0 && o.load.RampUp >= o.load.Duration {
			errs = append(errs, fmt.Errorf("-ramp-up %s must be shorter than -duration %s", o.load.RampUp, o.load.Duration))
		}
		if o.load.ThinkMin < 0 || o.load.ThinkMax < o.load.ThinkMin {
			errs = append(errs, fmt.Errorf("think time must satisfy 0 <= -think-min <= -think-max, got %s and %s", o.load.ThinkMin, o.load.ThinkMax))
		}
		if o.load.Mix != loadgen.MixPredict && o.load.Mix != loadgen.MixMixed {
			errs = append(errs, fmt.Errorf("-mix must be %q or %q, got %q", loadgen.MixPredict, loadgen.MixMixed, o.load.Mix))
		}
	}
	return o, errors.Join(errs...)
}

func dispatch(ctx context.Context, o options, log *slog.Logger, stdout, stderr io.Writer) error {
	root, err := reporoot.Find()
	if err != nil {
		return err
	}
	artifacts := reporoot.ArtifactsDir(root, o.artifacts)
	composeBin := o.composeBin
	if composeBin == "" {
		composeBin = filepath.Join(root, compose.DefaultComposeBin)
	}
	if _, err := os.Stat(composeBin); err != nil {
		return fmt.Errorf("no Compose CLI at %s (`make compose-up` builds it): %w", composeBin, err)
	}
	stack, err := compose.New(compose.Options{RepoRoot: root, ComposeBin: composeBin, Tag: o.tag, Artifacts: artifacts,
		UpTimeout: o.waitTimeout, Logger: log, Output: stderr})
	if err != nil {
		return err
	}
	start := time.Now()
	switch o.cmd {
	case "up":
		if err := stack.Up(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stack %s up in %s: a model is promoted and inference answers\n", compose.Project, time.Since(start).Round(time.Second))
	case "down":
		if err := stack.Down(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stack %s removed in %s\n", compose.Project, time.Since(start).Round(time.Second))
	case "load":
		return load(ctx, stack, o, artifacts, log, stdout)
	}
	return nil
}

// load runs the level, saves it and regenerates the report.
func load(ctx context.Context, stack *compose.Stack, o options, artifacts string, log *slog.Logger, stdout io.Writer) error {
	in := o.load
	if o.autoDuration {
		d, from, err := levelDuration(artifacts, in.Users)
		if err != nil {
			return err
		}
		in.Duration = d
		log.Info("load duration", "duration", d, "from", from)
	}
	if in.RampUp >= in.Duration {
		return fmt.Errorf("-ramp-up %s must be shorter than the duration %s", in.RampUp, in.Duration)
	}
	res, err := stack.Load(ctx, in)
	if err != nil {
		return err
	}
	b := stack.Baseline(ctx, res)
	if _, err := report.SaveBaseline(artifacts, b); err != nil {
		return err
	}
	path, err := report.Write(artifacts)
	if err != nil {
		return err
	}
	s := b.Summary
	fmt.Fprintf(stdout, "%s, %d users, %d workers, %s, %d replica: %d requests, %.1f req/s, p50/p95/p99 %s/%s/%s, %d failures (%.2f %%), %d × 429\n",
		b.Platform, b.Users, b.Workers, b.Duration, b.Replicas, s.Requests, s.RPS,
		s.P50.Round(time.Millisecond/10), s.P95.Round(time.Millisecond/10), s.P99.Round(time.Millisecond/10),
		s.FailureCount(), 100*s.FailureRate(), s.Throttled429)
	fmt.Fprintf(stdout, "report: %s\n", path)
	return nil
}

// levelDuration is the duration of the suite's level of users in the
// artifacts, so the two compare over the same span; else the duration the
// suite's rule gives on its kind cluster.
func levelDuration(artifacts string, users int) (time.Duration, string, error) {
	d, err := report.Load(artifacts)
	if err != nil {
		return 0, "", err
	}
	for _, l := range d.Levels {
		if l.Users == users && l.Duration > 0 {
			return l.Duration, fmt.Sprintf("the Kubernetes level of %d users in %s", users, artifacts), nil
		}
	}
	return compose.DefaultDuration, "the suite's rule on its kind cluster (no Kubernetes level of these users in the artifacts)", nil
}
