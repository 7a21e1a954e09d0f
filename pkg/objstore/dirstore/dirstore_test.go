package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	for _, b := range []string{"", "ab", ".tmp", ".locks", "../x", "Upper", "a/b", "-lead", "trail-"} {
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

// writerEnv makes the test binary, re-executed by
// TestConditionalWritesExcludeOtherProcesses, one conditional writer:
// "dir|version|body".
const writerEnv = "FLTS_DIRSTORE_TEST_WRITER"

// Exit codes of a writer process.
const (
	writerWon      = 0
	writerMismatch = 3
)

// Writers in separate processes that all read the same version race on one
// key: the lock file makes exactly one of them win, as it does for
// goroutines (objstoretest's ConcurrentConditionalWritersOneWins).
func TestConditionalWritesExcludeOtherProcesses(t *testing.T) {
	if spec := os.Getenv(writerEnv); spec != "" {
		os.Exit(runWriter(spec))
	}
	const writers = 4
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "bkt", "current.json", []byte("initial"), ""); err != nil {
		t.Fatal(err)
	}
	_, version, err := s.GetVersioned(ctx, "bkt", "current.json")
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, writers)
	starts := make([]io.WriteCloser, writers)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConditionalWritesExcludeOtherProcesses$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|writer-%d", writerEnv, s.Root(), version, i))
		cmd.Stderr = os.Stderr
		if starts[i], err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	// Every writer waits for its stdin to close: release them together.
	for _, w := range starts {
		w.Close()
	}
	winner := -1
	for i, cmd := range cmds {
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		switch {
		case code == writerWon && winner >= 0:
			t.Errorf("writers %d and %d both won", winner, i)
		case code == writerWon:
			winner = i
		case code != writerMismatch:
			t.Errorf("writer %d: %v, want a win or a version mismatch", i, err)
		}
	}
	if t.Failed() {
		return
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got, err := s.Get(ctx, "bkt", "current.json")
	if err != nil || string(got) != fmt.Sprintf("writer-%d", winner) {
		t.Fatalf("current.json = %q, %v; want the winner's body writer-%d", got, err, winner)
	}
}

// runWriter is one writer process: it waits for stdin to close, then writes
// conditionally and exits writerWon, writerMismatch or 1.
func runWriter(spec string) int {
	parts := strings.SplitN(spec, "|", 3)
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "bad %s %q\n", writerEnv, spec)
		return 1
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	s, err := New(parts[0], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = s.PutIfVersion(context.Background(), "bkt", "current.json", []byte(parts[2]), "", parts[1])
	switch {
	case err == nil:
		return writerWon
	case errors.Is(err, objstore.ErrVersionMismatch):
		return writerMismatch
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}
