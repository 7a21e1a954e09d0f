package objstoretest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// minioStopTimeout bounds a graceful stop before the process is killed.
const minioStopTimeout = 15 * time.Second

// MinIOServer is a MinIO process a test can stop and start again on the
// same address and data directory: the restart of the store that the
// clients under test must ride through. Stop and Start are called from the
// test's goroutine (they fail the test with t.Fatal).
type MinIOServer struct {
	MinIO
	t           *testing.T
	bin         string
	consoleAddr string
	dataDir     string
	logPath     string
	proc        *minioProcess // nil while stopped
}

// minioProcess is one run of the binary.
type minioProcess struct {
	pid     int
	exited  chan error
	logFile *os.File
}

// StartMinIOServer starts the server binary named by FLTS_MINIO_BIN like
// StartMinIO and returns it for Stop and Start. The process running when
// the test ends is stopped then, exactly that one (by PID).
func StartMinIOServer(t *testing.T) *MinIOServer {
	t.Helper()
	bin := os.Getenv(MinIOBinEnv)
	if bin == "" {
		t.Fatalf("%s must name a minio server binary for the integration tests "+
			"(GOBIN=$PWD/_output/bin go install $(cat images/minio/module.txt))", MinIOBinEnv)
	}
	m := &MinIOServer{
		MinIO:       MinIO{Endpoint: freeLoopbackAddr(t), AccessKey: "flts-test", SecretKey: "flts-test-secret"},
		t:           t,
		bin:         bin,
		consoleAddr: freeLoopbackAddr(t),
		dataDir:     t.TempDir(),
		logPath:     filepath.Join(t.TempDir(), "minio.log"),
	}
	t.Cleanup(m.Stop)
	m.Start()
	return m
}

// Start runs the binary on the server's address and data directory and
// waits until it answers S3 requests. Starting a running server fails the test.
func (m *MinIOServer) Start() {
	t := m.t
	t.Helper()
	if m.proc != nil {
		t.Fatalf("minio on %s is already running (pid %d)", m.Endpoint, m.proc.pid)
	}
	// Appended to: the log of every run stays, for a failed restart's report.
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("failed to open the minio log: %v", err)
	}
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Endpoint, "--console-address", m.consoleAddr, m.dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("failed to start %s: %v", m.bin, err)
	}
	p := &minioProcess{pid: cmd.Process.Pid, exited: make(chan error, 1), logFile: logFile}
	go func() { p.exited <- cmd.Wait() }()
	m.proc = p

	ctx, cancel := context.WithTimeout(context.Background(), minioReadyTimeout)
	defer cancel()
	for {
		if minioServing(ctx, m.Endpoint) {
			t.Logf("minio (pid %d) ready on %s", p.pid, m.Endpoint)
			return
		}
		select {
		case err := <-p.exited:
			m.proc = nil
			logFile.Close()
			log, _ := os.ReadFile(m.logPath)
			t.Fatalf("minio exited before becoming ready: %v\n%s", err, log)
		case <-ctx.Done():
			log, _ := os.ReadFile(m.logPath)
			t.Fatalf("minio not ready on %s after %v\n%s", m.Endpoint, minioReadyTimeout, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop terminates the running process (SIGTERM, as a pod deletion does;
// SIGKILL after minioStopTimeout) and waits until it has exited, so its
// port is free for Start. Stopping a stopped server does nothing.
func (m *MinIOServer) Stop() {
	p := m.proc
	if p == nil {
		return
	}
	m.proc = nil
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(minioStopTimeout):
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		<-p.exited
	}
	p.logFile.Close()
	m.t.Logf("minio (pid %d) on %s stopped", p.pid, m.Endpoint)
}
