package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/imagebuild"
)

const (
	// Project is the Compose project name (compose.yaml's `name`). Fixed,
	// so Down finds what an Up that failed halfway made.
	Project = "flts-baseline"
	// ProjectLabel is the label Compose puts on every container, network
	// and volume of a project; Down checks that none is left.
	ProjectLabel = "com.docker.compose.project"
	// Platform names the baseline in the report.
	Platform = "docker-compose"
	// File is the stack's definition, relative to the repository root.
	File = "fixtures/compose/compose.yaml"
	// DefaultComposeBin is where make builds the Compose CLI.
	DefaultComposeBin = "_output/bin/docker-compose"

	// probeImage holds the binary every service's health check runs
	// (compose.yaml, "Probes").
	probeImage = "loadgen"
	// loadService is compose.yaml's load generator (profile load).
	loadService = "loadgen"
	loadProfile = "load"
	// inferenceURL is the inference service as the load generator and the
	// checks reach it: by its service name, on the stack's network.
	inferenceURL = "http://inference:8000"
	// diagnosticsDir holds logs of a failed run, under the artifacts directory.
	diagnosticsDir = "compose"
)

// Images are the images compose.yaml runs (flts.local/<name>:<tag>, built
// by `make images`).
var Images = []string{"nats", "minio", "tracking", "preprocess", "train", "eval", "inference", "loadgen"}

// Timeouts of the stack's steps.
const (
	// DefaultUpTimeout bounds `up --wait`: inference turns healthy once a
	// model is promoted, after preprocess, three trainings and eval (about
	// two minutes here with the tiny models of values-e2e.yaml), inside
	// its health check's start_period of 15 min. A slower machine needs
	// at most that, not more: past it the container is unhealthy anyway.
	DefaultUpTimeout = 16 * time.Minute
	// downTimeout is the grace `down` gives a container to stop; the
	// chart's inference terminationGracePeriodSeconds in values-e2e.yaml.
	downTimeout = 10 * time.Second
	// diagnosticsTimeout bounds saving logs after a failure (or Ctrl-C).
	diagnosticsTimeout = time.Minute
)

// Options configures a Stack.
type Options struct {
	// RepoRoot is the module root (compose.yaml, _output).
	RepoRoot string
	// ComposeBin is the Compose CLI (default RepoRoot/_output/bin/docker-compose).
	ComposeBin string
	// Tag is the images' tag (IMAGE_TAG, default e2e).
	Tag string
	// Artifacts receives the logs of a failed step (under compose/).
	Artifacts string
	// UpTimeout bounds waiting for the stack (default DefaultUpTimeout).
	UpTimeout time.Duration
	// Runner runs the commands; nil is execx.Host.
	Runner execx.Runner
	// CheckImages returns the references of the named images, or an error
	// saying how to build them; nil is imagebuild's Present (the check the
	// suite makes: missing or built from other sources).
	CheckImages func(ctx context.Context, names ...string) ([]string, error)
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
	// Output receives the Compose CLI's own progress lines of up and down
	// (containers created, started, healthy); nil discards them.
	Output io.Writer
}

// Stack is the baseline's Compose project.
type Stack struct {
	opts Options
	run  execx.Runner
	log  *slog.Logger
	// probe is the host path of the health checks' binary.
	probe string
}

// New returns a Stack with defaults applied.
func New(opts Options) (*Stack, error) {
	var errs []error
	if opts.RepoRoot == "" {
		errs = append(errs, errors.New("the repository root (RepoRoot) is required"))
	}
	if opts.Artifacts == "" {
		errs = append(errs, errors.New("the artifacts directory (Artifacts) is required"))
	}
	if opts.UpTimeout < 0 {
		errs = append(errs, fmt.Errorf("the wait for the stack (UpTimeout) must be >= 0, got %s", opts.UpTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	if opts.ComposeBin == "" {
		opts.ComposeBin = filepath.Join(opts.RepoRoot, DefaultComposeBin)
	}
	if opts.Tag == "" {
		opts.Tag = "e2e"
	}
	if opts.UpTimeout == 0 {
		opts.UpTimeout = DefaultUpTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CheckImages == nil {
		b, err := imagebuild.New(imagebuild.Options{RepoRoot: opts.RepoRoot, Tag: opts.Tag, Logger: log})
		if err != nil {
			return nil, err
		}
		opts.CheckImages = b.Present
	}
	return &Stack{opts: opts, run: execx.OrHost(opts.Runner), log: log,
		probe: filepath.Join(opts.RepoRoot, "_output", "compose", "flts-probe")}, nil
}

// unusedSecret stands in for the object-store credentials in commands
// other than up: compose.yaml requires them for interpolation, but only
// `up` creates the containers that read them (run --no-deps, exec, ps,
// logs and down start or change no service).
const unusedSecret = "unused-outside-up"

// compose returns a Compose CLI command on the project. creds are the
// object store's access and secret keys (nil: placeholders).
func (s *Stack) compose(creds []string, args ...string) *execx.Cmd {
	if len(creds) != 2 {
		creds = []string{unusedSecret, unusedSecret}
	}
	global := []string{"--file", filepath.Join(s.opts.RepoRoot, File), "--project-name", Project,
		"--ansi", "never", "--progress", "plain"}
	return &execx.Cmd{Name: s.opts.ComposeBin, Args: append(global, args...), Dir: s.opts.RepoRoot,
		Env: []string{"IMAGE_TAG=" + s.opts.Tag, "FLTS_COMPOSE_PROBE=" + s.probe,
			"FLTS_S3_ACCESS_KEY=" + creds[0], "FLTS_S3_SECRET_KEY=" + creds[1]}}
}

// loadgen returns `compose run` of the load-generator service with args:
// a container on the stack's network, removed when it exits, never
// pulled, starting nothing else.
func (s *Stack) loadgen(args ...string) *execx.Cmd {
	return s.compose(nil, append([]string{"--profile", loadProfile, "run", "--rm", "--no-deps", "--no-tty",
		"--pull", "never", loadService}, args...)...)
}
