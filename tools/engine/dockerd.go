package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

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
