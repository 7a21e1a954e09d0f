//go:build integration

package s3store

import (
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore/objstoretest"
)

// TestConformanceAgainstMinIO runs the shared suite against a real MinIO
// server binary (FLTS_MINIO_BIN) listening on loopback with a temp data dir.
func TestConformanceAgainstMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	s, err := New(Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Run(t, s)
}

func TestWrongCredentialsFail(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	s, err := New(Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: "wrong-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context(), "denied"); err == nil {
		t.Fatal("EnsureBucket with a wrong secret succeeded")
	}
}
