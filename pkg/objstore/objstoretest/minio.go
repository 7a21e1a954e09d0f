package objstoretest

import (
	"context"
	"net"
	"net/http"
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
// the variable is unset: integration tests must not silently skip. A test
// that restarts the server uses StartMinIOServer.
func StartMinIO(t *testing.T) MinIO {
	t.Helper()
	return StartMinIOServer(t).MinIO
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
