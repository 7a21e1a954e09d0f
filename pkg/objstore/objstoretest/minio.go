package objstoretest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// MinIOBinEnv names the environment variable holding the minio server
// binary used by integration tests.
const MinIOBinEnv = "FLTS_MINIO_BIN"

// minioReadyTimeout bounds MinIO's start; it formats its drive in about a second.
const minioReadyTimeout = 60 * time.Second

// MinIO is a MinIO server started for a test.
type MinIO struct {
	Endpoint  string // host:port on loopback
	AccessKey string
	SecretKey string
}

// StartMinIO starts the server binary named by FLTS_MINIO_BIN on a loopback
// port with a temporary data directory, waits until it is ready, and stops
// exactly that process (by PID) when the test ends. It fails the test when
// the variable is unset: integration tests must not silently skip.
func StartMinIO(t *testing.T) MinIO {
	t.Helper()
	bin := os.Getenv(MinIOBinEnv)
	if bin == "" {
		t.Fatalf("%s must name a minio server binary for the integration tests "+
			"(GOBIN=$PWD/_output/bin go install $(cat images/minio/module.txt))", MinIOBinEnv)
	}
	m := MinIO{AccessKey: "flts-test", SecretKey: "flts-test-secret"}
	addr, consoleAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	m.Endpoint = addr
	logPath := filepath.Join(t.TempDir(), "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", consoleAddr, t.TempDir())
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start %s: %v", bin, err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), minioReadyTimeout)
	defer cancel()
	for {
		if minioServing(ctx, addr) {
			t.Logf("minio (pid %d) ready on %s", pid, addr)
			return m
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("minio exited before becoming ready: %v\n%s", err, log)
		case <-ctx.Done():
			log, _ := os.ReadFile(logPath)
			t.Fatalf("minio not ready on %s after %v\n%s", addr, minioReadyTimeout, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// minioServing reports whether MinIO answers S3 requests. Its readiness
// endpoint turns 200 a moment before the S3 API stops answering 503
// "Server not initialized yet", so an anonymous ListBuckets must get past
// 503 too (it gets 403 once serving).
func minioServing(ctx context.Context, addr string) bool {
	for _, path := range []string{"/minio/health/ready", "/"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable || (path != "/" && resp.StatusCode != http.StatusOK) {
			return false
		}
	}
	return true
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
