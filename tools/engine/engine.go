// Package engine makes sure a Docker engine that can run privileged
// containers (kind nodes) is available, starting one only when none answers.
//
// It never stops or reconfigures an engine it did not start: ownership is a
// pidfile under StateDir naming a live dockerd process.
package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flts/flts-e2e/pkg/atomicfile"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/imagebuild"
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
	e := &Engine{opts: opts, log: opts.Logger}
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
	return execx.Command("docker", "info", "--format", "{{.ServerVersion}}").Run(ctx) == nil
}

func (e *Engine) defaultRuntime(ctx context.Context) string {
	out, err := execx.Command("docker", "info", "--format", "{{.DefaultRuntime}}").Output(ctx)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// install installs docker.io when dockerd is missing.
func (e *Engine) install(ctx context.Context) error {
	_, daemonErr := exec.LookPath("dockerd")
	_, cliErr := exec.LookPath("docker")
	if daemonErr == nil && cliErr == nil {
		return nil
	}
	e.log.Info("installing docker.io with apt-get")
	start := time.Now()
	if err := execx.Command("apt-get", "update").Run(ctx); err != nil {
		return fmt.Errorf("failed to update apt indexes: %w", err)
	}
	cmd := execx.Command("apt-get", "install", "-y", "--no-install-recommends", "docker.io")
	cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := cmd.Run(ctx); err != nil {
		return fmt.Errorf("failed to install docker.io: %w", err)
	}
	e.log.Info("installed docker.io", "elapsed", time.Since(start).Round(time.Second))
	return nil
}

// stalePIDFiles are written by dockerd and its managed containerd; when a
// killed engine leaves them behind, the next dockerd refuses to start.
var stalePIDFiles = []string{
	"/var/run/docker.pid",
	"/var/run/docker/containerd/containerd.pid",
	"/run/docker/containerd/containerd.pid",
}

func (e *Engine) start(ctx context.Context) error {
	for _, f := range stalePIDFiles {
		if removed, err := RemoveStalePIDFile(f); err != nil {
			return err
		} else if removed {
			e.log.Info("removed stale pid file of a dead process", "file", f)
		}
	}
	_ = os.Remove(PIDFile(e.opts.StateDir))
	logFile, err := os.OpenFile(e.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open engine log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command("dockerd")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A session of its own: the engine must outlive this process and must
	// not receive the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start dockerd: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := os.WriteFile(PIDFile(e.opts.StateDir), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("failed to record dockerd pid: %w", err)
	}
	e.Started, e.PID = true, pid
	e.log.Info("started dockerd", "pid", pid, "log", e.logPath())
	var exitErr error
	err = wait.PollUntilContextTimeout(ctx, dockerdPoll, dockerdStartTimeout, false, func(ctx context.Context) (bool, error) {
		select {
		case exitErr = <-exited:
			return false, errDockerdExited
		default:
		}
		return e.answers(ctx), nil
	})
	switch {
	case err == nil:
		e.log.Info("dockerd answers", "pid", pid, "elapsed", time.Since(begin).Round(time.Millisecond))
		return nil
	case errors.Is(err, errDockerdExited):
		_ = os.Remove(PIDFile(e.opts.StateDir))
		e.Started, e.PID = false, 0
		return fmt.Errorf("dockerd exited during start (%v); tail of %s:\n%s", exitErr, e.logPath(), tailFile(e.logPath(), 2000))
	case ctx.Err() != nil:
		return fmt.Errorf("failed to wait for dockerd: %w", ctx.Err())
	default:
		return fmt.Errorf("dockerd %d did not answer within %s; see %s", pid, dockerdStartTimeout, e.logPath())
	}
}

func (e *Engine) restart(ctx context.Context) error {
	e.log.Info("restarting the engine flts started", "pid", e.PID)
	if err := e.Stop(ctx); err != nil {
		return err
	}
	return e.start(ctx)
}

// probePrivileged runs the pause binary in a privileged container.
func (e *Engine) probePrivileged(ctx context.Context) error {
	if err := e.ensureProbeImage(ctx); err != nil {
		return err
	}
	out, err := execx.Command("docker", "run", "--rm", "--privileged", "--network", "none", ProbeImage, "/pause", "-v").Output(ctx)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "pause") {
		return fmt.Errorf("privileged probe printed %q", out)
	}
	return nil
}

func (e *Engine) ensureProbeImage(ctx context.Context) error {
	if execx.Command("docker", "image", "inspect", ProbeImage).Run(ctx) == nil {
		return nil
	}
	bin := filepath.Join(e.opts.StateDir, "probe-pause")
	build := &execx.Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./images/pause"},
		Dir: e.opts.RepoRoot, Env: []string{"CGO_ENABLED=0"}}
	if err := build.Run(ctx); err != nil {
		return fmt.Errorf("failed to build the probe binary: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("failed to read probe binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	// Labelled like every image the project makes, so the fresh-machine
	// check (flts-fresh) can find and remove them all.
	imp := execx.Command("docker", "import", "--change", "LABEL "+imagebuild.CacheKeyLabel+"=engine-probe", "-", ProbeImage)
	imp.Stdin = &buf
	if err := imp.Run(ctx); err != nil {
		return fmt.Errorf("failed to import probe image: %w", err)
	}
	return nil
}

// refreshRegisteredWrapper rebuilds the wrapper when daemon.json already
// names it: dockerd would otherwise start with a default runtime whose
// binary may be gone or stale (an earlier checkout's), and fail every
// container with an error that does not say why.
func (e *Engine) refreshRegisteredWrapper(ctx context.Context) error {
	existing, err := os.ReadFile(e.opts.DaemonConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", e.opts.DaemonConfig, err)
	}
	var doc struct {
		Runtimes map[string]json.RawMessage `json:"runtimes"`
	}
	if err := json.Unmarshal(existing, &doc); err != nil {
		return fmt.Errorf("failed to decode %s: %w", e.opts.DaemonConfig, err)
	}
	if _, ok := doc.Runtimes[RuntimeName]; !ok {
		return nil
	}
	e.log.Info("daemon.json names the runtime wrapper; rebuilding it before starting dockerd", "path", e.opts.WrapperPath)
	return e.installWrapper(ctx)
}

func (e *Engine) installWrapper(ctx context.Context) error {
	abs := e.opts.WrapperPath
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(abs), err)
	}
	build := &execx.Cmd{Name: "go", Args: []string{"build", "-trimpath", "-o", abs, "./tools/cmd/flts-runc-wrapper"},
		Dir: e.opts.RepoRoot, Env: []string{"CGO_ENABLED=0"}}
	if err := build.Run(ctx); err != nil {
		return fmt.Errorf("failed to build the runtime wrapper: %w", err)
	}
	existing, err := os.ReadFile(e.opts.DaemonConfig)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to read %s: %w", e.opts.DaemonConfig, err)
	}
	merged, err := MergeDaemonConfig(existing, RuntimeName, abs)
	if err != nil {
		return fmt.Errorf("failed to merge %s: %w", e.opts.DaemonConfig, err)
	}
	if err := atomicfile.Write(e.opts.DaemonConfig, merged, 0o644); err != nil {
		return err
	}
	e.log.Info("registered runtime wrapper", "config", e.opts.DaemonConfig, "path", abs)
	return nil
}

// MergeDaemonConfig adds a runtime to a daemon.json document and makes it the
// default, keeping every other setting.
func MergeDaemonConfig(existing []byte, name, path string) ([]byte, error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(existing)) > 0 {
		if err := json.Unmarshal(existing, &doc); err != nil {
			return nil, fmt.Errorf("failed to decode daemon config: %w", err)
		}
	}
	runtimes, _ := doc["runtimes"].(map[string]any)
	if runtimes == nil {
		if _, present := doc["runtimes"]; present {
			return nil, fmt.Errorf("daemon config member runtimes is not an object")
		}
		runtimes = map[string]any{}
	}
	runtimes[name] = map[string]any{"path": path}
	doc["runtimes"] = runtimes
	doc["default-runtime"] = name
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode daemon config: %w", err)
	}
	return append(out, '\n'), nil
}

// RemoveStalePIDFile removes a pid file whose process is gone. It reports
// whether it removed the file.
func RemoveStalePIDFile(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read %s: %w", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err == nil && pid > 0 && alive(pid) {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("failed to remove stale %s: %w", path, err)
	}
	return true, nil
}

// ownedPID returns the PID recorded in our pidfile if that process is a live
// dockerd.
func ownedPID(stateDir string) (int, bool) {
	data, err := os.ReadFile(PIDFile(stateDir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0, false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		return 0, false
	}
	return pid, true
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie still answers kill 0 but is gone for our purposes.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// The engine's waits: dockerd answers within seconds on this machine type
// and a cold start (new data-root) within a minute; it stops within
// seconds, and at most after its own 60 s shutdown timeout for containers.
const (
	dockerdPoll         = 500 * time.Millisecond
	dockerdStartTimeout = 90 * time.Second
	dockerdStopTimeout  = 60 * time.Second
)

var errDockerdExited = errors.New("dockerd exited")

func stopPID(ctx context.Context, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("failed to signal dockerd %d: %w", pid, err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, dockerdStopTimeout, true, func(context.Context) (bool, error) {
		return !alive(pid), nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("failed to wait for dockerd %d to exit: %w", pid, ctx.Err())
	default:
		return fmt.Errorf("dockerd %d did not exit within %s of SIGTERM", pid, dockerdStopTimeout)
	}
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
