//go:build integration

package s3store

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/objstore/objstoretest"
)

// TestConformanceAgainstMinIO runs the shared suite against a real MinIO
// server binary (FLTS_MINIO_BIN) listening on loopback with a temp data dir.
func TestConformanceAgainstMinIO(t *testing.T) {
	bin := os.Getenv("FLTS_MINIO_BIN")
	if bin == "" {
		t.Fatal("FLTS_MINIO_BIN must name a minio server binary for the integration tests " +
			"(GOBIN=$PWD/_output/bin go install github.com/minio/minio@<version from images/minio/module.txt>)")
	}
	endpoint := startMinIO(t, bin, "flts-test", "flts-test-secret")
	s, err := New(Config{Endpoint: endpoint, AccessKey: "flts-test", SecretKey: "flts-test-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Run(t, s)
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

// startMinIO starts the server and registers a cleanup that stops exactly
// the process it started (by PID).
func startMinIO(t *testing.T, bin, user, password string) string {
	t.Helper()
	addr, consoleAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	dataDir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", consoleAddr, dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
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

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/minio/health/ready", addr)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("minio (pid %d) ready on %s", pid, addr)
				return addr
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("minio exited before becoming ready: %v\n%s", err, log)
		case <-ctx.Done():
			log, _ := os.ReadFile(logPath)
			t.Fatalf("minio not ready on %s after 60s\n%s", addr, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
