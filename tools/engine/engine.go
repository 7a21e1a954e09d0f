// Package engine makes sure a Docker engine that can run privileged
// containers (kind nodes) is available, starting one only when none answers.
//
// It never stops or reconfigures an engine it did not start: ownership is a
// pidfile under StateDir naming a live dockerd process.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
)

const (
	// RuntimeName is the name the capability wrapper is registered under.
	RuntimeName = "flts-runc"
	// ProbeImage is a one-binary image used to test privileged start without
	// any registry.
	ProbeImage = "flts.local/engine-probe:1"

	capsError = "unable to apply caps"

	// DefaultWrapperPath is where the runtime wrapper is installed.
	DefaultWrapperPath = "/usr/local/libexec/flts/flts-runc-wrapper"
)

// Options configures Ensure.
type Options struct {
	// StateDir holds the pidfile, the engine log and the wrapper binary.
	StateDir string
	// RepoRoot is the module root (to build the pause probe and the wrapper).
	RepoRoot string
	// DaemonConfig is Docker's daemon.json (default /etc/docker/daemon.json).
	DaemonConfig string
	// WrapperPath is where the runtime wrapper is installed (default
	// DefaultWrapperPath): outside the checkout, because the engine
	// outlives it and another checkout may start the engine next.
	WrapperPath string
	// Runner runs every command but dockerd itself (which must outlive
	// this process in a session of its own); nil is execx.Host.
	Runner execx.Runner
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

// Engine is a usable Docker engine.
type Engine struct {
	// Started is true when this package started the engine (and may stop it).
	Started bool
	// PID of the dockerd this package started, 0 otherwise.
	PID int
	// WrapperInstalled is true when the capability wrapper is the default runtime.
	WrapperInstalled bool

	opts Options
	log  *slog.Logger
	run  execx.Runner
}

func (o *Options) defaults() error {
	if o.StateDir == "" {
		return errors.New("engine: StateDir is required")
	}
	if o.RepoRoot == "" {
		return errors.New("engine: RepoRoot is required")
	}
	if o.DaemonConfig == "" {
		o.DaemonConfig = "/etc/docker/daemon.json"
	}
	if o.WrapperPath == "" {
		o.WrapperPath = DefaultWrapperPath
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// PIDFile is where the PID of an engine started by this package is kept.
func PIDFile(stateDir string) string { return filepath.Join(stateDir, "dockerd.pid") }

// Ensure returns a Docker engine able to run privileged containers.
func Ensure(ctx context.Context, opts Options) (*Engine, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	e := &Engine{opts: opts, log: opts.Logger, run: execx.OrHost(opts.Runner)}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create state dir %s: %w", opts.StateDir, err)
	}
	if pid, ok := ownedPID(opts.StateDir); ok {
		e.Started, e.PID = true, pid
	}
	if !e.answers(ctx) {
		if e.Started {
			return nil, fmt.Errorf("dockerd %d started by flts is alive but does not answer; see %s", e.PID, e.logPath())
		}
		if err := e.install(ctx); err != nil {
			return nil, err
		}
		if err := e.refreshRegisteredWrapper(ctx); err != nil {
			return nil, err
		}
		if err := e.start(ctx); err != nil {
			return nil, err
		}
	} else {
		e.log.Info("docker engine answers", "startedByUs", e.Started, "pid", e.PID)
	}
	e.WrapperInstalled = e.defaultRuntime(ctx) == RuntimeName
	err := e.probePrivileged(ctx)
	if err == nil {
		e.log.Info("engine ready", "elapsed", time.Since(start).Round(time.Millisecond))
		return e, nil
	}
	if !strings.Contains(err.Error(), capsError) {
		return nil, fmt.Errorf("failed to run a privileged container: %w", err)
	}
	if !e.Started {
		return nil, fmt.Errorf("the running Docker engine (not started by flts, so left alone) cannot run privileged containers on this host; "+
			"register the capability wrapper as its default runtime (go build -o /usr/local/bin/flts-runc-wrapper ./tools/cmd/flts-runc-wrapper; "+
			`daemon.json {"runtimes":{"%s":{"path":"/usr/local/bin/flts-runc-wrapper"}},"default-runtime":"%s"}) and restart it: %w`, RuntimeName, RuntimeName, err)
	}
	e.log.Info("privileged containers fail with missing capabilities; installing runtime wrapper")
	if err := e.installWrapper(ctx); err != nil {
		return nil, err
	}
	if err := e.restart(ctx); err != nil {
		return nil, err
	}
	if err := e.probePrivileged(ctx); err != nil {
		return nil, fmt.Errorf("failed to run a privileged container even with the runtime wrapper: %w", err)
	}
	e.WrapperInstalled = true
	e.log.Info("engine ready", "wrapper", true, "elapsed", time.Since(start).Round(time.Millisecond))
	return e, nil
}

// Stop stops the engine if, and only if, this package started it.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.Started || e.PID == 0 {
		return nil
	}
	if err := stopPID(ctx, e.PID); err != nil {
		return err
	}
	_ = os.Remove(PIDFile(e.opts.StateDir))
	e.Started, e.PID = false, 0
	return nil
}

func (e *Engine) logPath() string { return filepath.Join(e.opts.StateDir, "dockerd.log") }

func (e *Engine) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return e.run.Run(ctx, execx.Command("docker", "info", "--format", "{{.ServerVersion}}")) == nil
}

func (e *Engine) defaultRuntime(ctx context.Context) string {
	out, err := e.run.Output(ctx, execx.Command("docker", "info", "--format", "{{.DefaultRuntime}}"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// StopOwned stops the dockerd this package started (its PID is recorded in
// opts.StateDir), for a caller that did not hold the Engine; an engine
// started by anyone else is left alone. It reports whether one was stopped.
func StopOwned(ctx context.Context, opts Options) (bool, error) {
	if err := opts.defaults(); err != nil {
		return false, err
	}
	pid, ok := ownedPID(opts.StateDir)
	if !ok {
		return false, nil
	}
	e := &Engine{Started: true, PID: pid, opts: opts, log: opts.Logger, run: execx.OrHost(opts.Runner)}
	return true, e.Stop(ctx)
}
