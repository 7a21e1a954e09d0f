package dirstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/objstoretest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, newStore(t))
}

func TestRejectsUnsafeKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.EnsureBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/", "./a", `a\b`, "a\x00b"} {
		if err := s.Put(ctx, "bkt", key, []byte("x"), ""); err == nil || !strings.Contains(err.Error(), "invalid object key") {
			t.Errorf("Put(%q) error = %v, want invalid object key", key, err)
		}
		if _, err := s.Get(ctx, "bkt", key); err == nil || errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want a validation error", key, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Root()), "escape")); err == nil {
		t.Fatal("a key escaped the store root")
	}
}

func TestRejectsBadBuckets(t *testing.T) {
	s := newStore(t)
	for _, b := range []string{"", "ab", ".tmp", "../x", "Upper", "a/b", "-lead", "trail-"} {
		if err := s.EnsureBucket(context.Background(), b); err == nil {
			t.Errorf("EnsureBucket(%q) succeeded, want an error", b)
		}
	}
}

// A missing bucket is created by Put (objstoretest's PutCreatesAMissingBucket);
// a bad bucket name is still refused and creates nothing.
func TestPutToABadBucketNameFails(t *testing.T) {
	s := newStore(t)
	for _, b := range []string{"../x", "Upper", ".tmp"} {
		if err := s.Put(context.Background(), b, "k", []byte("x"), ""); err == nil {
			t.Errorf("Put to bucket %q succeeded, want an error", b)
		}
	}
}

func TestListDoesNotShowTempFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.EnsureBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	// A crashed writer leaves its temp file behind; it must stay invisible.
	if err := os.WriteFile(filepath.Join(s.Root(), tmpDirName, "put-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctx, "bkt", "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List = %+v, %v; want empty", objs, err)
	}
}
