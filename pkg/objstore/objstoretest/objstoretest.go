// Package objstoretest is a conformance suite every objstore.Store
// implementation must pass: run it from the implementation's tests with
// objstoretest.Run(t, store).
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore"
)

// Run runs the conformance suite against s. Each sub-test uses its own
// freshly named bucket, so s may hold other data.
func Run(t *testing.T, s objstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store, bucket string)
	}{
		{"EnsureBucketIsIdempotent", testEnsureBucketIdempotent},
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"PutOverwrites", testPutOverwrites},
		{"EmptyBody", testEmptyBody},
		{"GetMissingIsNotFound", testGetMissing},
		{"StatMissingIsNotFound", testStatMissing},
		{"StatReportsSize", testStatSize},
		{"ListPrefixSorted", testListPrefixSorted},
		{"ListEmpty", testListEmpty},
		{"ConcurrentPutsNeverTear", testConcurrentPuts},
		{"ConcurrentEnsureBucket", testConcurrentEnsureBucket},
		{"PutCreatesAMissingBucket", testPutCreatesMissingBucket},
		{"GetVersionedMissingIsNotFound", testGetVersionedMissing},
		{"GetVersionedNamesTheBody", testGetVersionedNamesTheBody},
		{"CreateOnlySucceedsOnce", testCreateOnlySucceedsOnce},
		{"UpdateNeedsTheCurrentVersion", testUpdateNeedsTheCurrentVersion},
		{"UpdateOfAMissingObjectMismatches", testUpdateOfMissingObject},
		{"ConcurrentConditionalWritersOneWins", testConcurrentConditionalWriters},
		{"PutIfVersionCreatesAMissingBucket", testPutIfVersionCreatesMissingBucket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bucket := uniqueBucket(t)
			if err := s.EnsureBucket(context.Background(), bucket); err != nil {
				t.Fatalf("EnsureBucket(%q): %v", bucket, err)
			}
			tc.fn(t, s, bucket)
		})
	}
}

func uniqueBucket(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random bucket name: %v", err)
	}
	return "conf-" + hex.EncodeToString(b[:])
}

func mustPut(t *testing.T, s objstore.Store, bucket, key string, body []byte) {
	t.Helper()
	if err := s.Put(context.Background(), bucket, key, body, "application/octet-stream"); err != nil {
		t.Fatalf("Put(%s/%s): %v", bucket, key, err)
	}
}

func mustGet(t *testing.T, s objstore.Store, bucket, key string) []byte {
	t.Helper()
	b, err := s.Get(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", bucket, key, err)
	}
	return b
}

func testEnsureBucketIdempotent(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "keep.txt", []byte("kept"))
	for i := 0; i < 2; i++ {
		if err := s.EnsureBucket(context.Background(), bucket); err != nil {
			t.Fatalf("EnsureBucket on existing bucket (call %d): %v", i+1, err)
		}
	}
	if got := mustGet(t, s, bucket, "keep.txt"); string(got) != "kept" {
		t.Fatalf("EnsureBucket changed existing data: got %q", got)
	}
}

func testPutGetRoundTrip(t *testing.T, s objstore.Store, bucket string) {
	body := make([]byte, 70_000)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"top.bin", "a/b/c/deep.json", "with space/and-dash_1.csv"} {
		mustPut(t, s, bucket, key, body)
		if got := mustGet(t, s, bucket, key); !bytes.Equal(got, body) {
			t.Fatalf("Get(%s) returned %d bytes differing from the %d put", key, len(got), len(body))
		}
	}
}

func testPutOverwrites(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "k", []byte("first, longer value"))
	mustPut(t, s, bucket, "k", []byte("second"))
	if got := mustGet(t, s, bucket, "k"); string(got) != "second" {
		t.Fatalf("after overwrite got %q, want %q", got, "second")
	}
}

func testEmptyBody(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "empty", nil)
	if got := mustGet(t, s, bucket, "empty"); len(got) != 0 {
		t.Fatalf("empty object read back as %d bytes", len(got))
	}
	info, err := s.Stat(context.Background(), bucket, "empty")
	if err != nil {
		t.Fatalf("Stat(empty): %v", err)
	}
	if info.Size != 0 {
		t.Fatalf("Stat(empty).Size = %d, want 0", info.Size)
	}
}

func testGetMissing(t *testing.T, s objstore.Store, bucket string) {
	_, err := s.Get(context.Background(), bucket, "missing/key.json")
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want wrapping ErrNotFound", err)
	}
	_, err = s.Get(context.Background(), bucket+"-absent", "key.json")
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(missing bucket) error = %v, want wrapping ErrNotFound", err)
	}
}

func testStatMissing(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "dir/file", []byte("x"))
	for _, key := range []string{"nothing", "dir"} {
		_, err := s.Stat(context.Background(), bucket, key)
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Stat(%q) error = %v, want wrapping ErrNotFound", key, err)
		}
	}
}

func testStatSize(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "sized/obj", []byte("12345"))
	info, err := s.Stat(context.Background(), bucket, "sized/obj")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	want := objstore.ObjectInfo{Bucket: bucket, Key: "sized/obj", Size: 5}
	if info != want {
		t.Fatalf("Stat = %+v, want %+v", info, want)
	}
}

func testListPrefixSorted(t *testing.T, s objstore.Store, bucket string) {
	// Put in non-sorted order; '-' sorts before '/', which a naive
	// directory walk would get wrong.
	keys := []string{"runs/b/meta.json", "runs-x", "runs/a/artifacts/model.json", "runs/a/meta.json", "other/z", "runsa"}
	for i, k := range keys {
		mustPut(t, s, bucket, k, []byte(fmt.Sprint(i)))
	}
	cases := map[string][]string{
		"":         {"other/z", "runs-x", "runs/a/artifacts/model.json", "runs/a/meta.json", "runs/b/meta.json", "runsa"},
		"runs/":    {"runs/a/artifacts/model.json", "runs/a/meta.json", "runs/b/meta.json"},
		"runs":     {"runs-x", "runs/a/artifacts/model.json", "runs/a/meta.json", "runs/b/meta.json", "runsa"},
		"runs/a/":  {"runs/a/artifacts/model.json", "runs/a/meta.json"},
		"runs/a/m": {"runs/a/meta.json"},
		"nope/":    nil,
	}
	for prefix, want := range cases {
		got, err := s.List(context.Background(), bucket, prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		var gotKeys []string
		for _, o := range got {
			if o.Bucket != bucket {
				t.Fatalf("List(%q) returned bucket %q, want %q", prefix, o.Bucket, bucket)
			}
			gotKeys = append(gotKeys, o.Key)
		}
		if !slices.Equal(gotKeys, want) {
			t.Fatalf("List(%q) = %q, want %q", prefix, gotKeys, want)
		}
	}
	got, err := s.List(context.Background(), bucket, "runs/a/meta.json")
	if err != nil || len(got) != 1 || got[0].Size != int64(len("3")) {
		t.Fatalf("List(exact key) = %+v, %v; want one object of size 1", got, err)
	}
}

func testListEmpty(t *testing.T, s objstore.Store, bucket string) {
	got, err := s.List(context.Background(), bucket, "")
	if err != nil {
		t.Fatalf("List(empty bucket): %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("List(empty bucket) = %+v, want none", got)
	}
}

func testConcurrentPuts(t *testing.T, s objstore.Store, bucket string) {
	const writers = 8
	bodies := make([][]byte, writers)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 32_000+i*1000)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for i := 0; i < writers; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- s.Put(context.Background(), bucket, "contended", bodies[i], "text/plain")
		}()
		go func() {
			defer wg.Done()
			// Readers racing the writers see nothing or a whole body.
			b, err := s.Get(context.Background(), bucket, "contended")
			if err != nil && !errors.Is(err, objstore.ErrNotFound) {
				errs <- err
				return
			}
			if err == nil && !slices.ContainsFunc(bodies, func(w []byte) bool { return bytes.Equal(w, b) }) {
				errs <- fmt.Errorf("reader saw a torn object of %d bytes", len(b))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	final := mustGet(t, s, bucket, "contended")
	if !slices.ContainsFunc(bodies, func(w []byte) bool { return bytes.Equal(w, final) }) {
		t.Fatalf("final object of %d bytes is none of the written bodies", len(final))
	}
	objs, err := s.List(context.Background(), bucket, "")
	if err != nil || len(objs) != 1 {
		t.Fatalf("List after concurrent puts = %+v, %v; want exactly one object (no temp leftovers)", objs, err)
	}
}

func testConcurrentEnsureBucket(t *testing.T, s objstore.Store, _ string) {
	bucket := uniqueBucket(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.EnsureBucket(context.Background(), bucket)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("racing EnsureBucket calls: %v", err)
	}
	mustPut(t, s, bucket, "x", []byte("y"))
}

// testPutCreatesMissingBucket: a store that came back empty (no buckets)
// still takes writes.
func testPutCreatesMissingBucket(t *testing.T, s objstore.Store, _ string) {
	missing := uniqueBucket(t)
	mustPut(t, s, missing, "after/restart.json", []byte(`{"ok":true}`))
	if got := mustGet(t, s, missing, "after/restart.json"); string(got) != `{"ok":true}` {
		t.Fatalf("got %q", got)
	}
}

func mustGetVersioned(t *testing.T, s objstore.Store, bucket, key string) ([]byte, string) {
	t.Helper()
	b, v, err := s.GetVersioned(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("GetVersioned(%s/%s): %v", bucket, key, err)
	}
	if v == objstore.VersionAbsent {
		t.Fatalf("GetVersioned(%s/%s) returned the version of no object", bucket, key)
	}
	return b, v
}

func putIfVersion(s objstore.Store, bucket, key string, body []byte, version string) error {
	return s.PutIfVersion(context.Background(), bucket, key, body, "application/json", version)
}

func testGetVersionedMissing(t *testing.T, s objstore.Store, bucket string) {
	for _, b := range []string{bucket, bucket + "-absent"} {
		if _, _, err := s.GetVersioned(context.Background(), b, "missing.json"); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("GetVersioned(%s/missing.json) error = %v, want wrapping ErrNotFound", b, err)
		}
	}
}

// testGetVersionedNamesTheBody: the version is stable while the body is,
// and changes with it.
func testGetVersionedNamesTheBody(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "v/obj.json", []byte(`{"n":1}`))
	b1, v1 := mustGetVersioned(t, s, bucket, "v/obj.json")
	if string(b1) != `{"n":1}` {
		t.Fatalf("GetVersioned body %q", b1)
	}
	if _, again := mustGetVersioned(t, s, bucket, "v/obj.json"); again != v1 {
		t.Fatalf("version changed without a write: %q then %q", v1, again)
	}
	mustPut(t, s, bucket, "v/obj.json", []byte(`{"n":2}`))
	b2, v2 := mustGetVersioned(t, s, bucket, "v/obj.json")
	if string(b2) != `{"n":2}` || v2 == v1 {
		t.Fatalf("after a Put: body %q version %q, want the new body and a version other than %q", b2, v2, v1)
	}
}

// testCreateOnlySucceedsOnce: VersionAbsent writes only where there is no
// object, an empty one included.
func testCreateOnlySucceedsOnce(t *testing.T, s objstore.Store, bucket string) {
	for _, first := range [][]byte{[]byte("first"), {}} {
		key := fmt.Sprintf("create/%d", len(first))
		if err := putIfVersion(s, bucket, key, first, objstore.VersionAbsent); err != nil {
			t.Fatalf("create-only write of a new object: %v", err)
		}
		err := putIfVersion(s, bucket, key, []byte("second"), objstore.VersionAbsent)
		if !errors.Is(err, objstore.ErrVersionMismatch) {
			t.Fatalf("second create-only write of %s: %v, want wrapping ErrVersionMismatch", key, err)
		}
		t.Logf("refused create-only write: %v", err)
		if got := mustGet(t, s, bucket, key); !bytes.Equal(got, first) {
			t.Fatalf("%s holds %q after a refused write, want %q", key, got, first)
		}
	}
}

// testUpdateNeedsTheCurrentVersion: a write with the version read succeeds;
// one with a version since replaced changes nothing.
func testUpdateNeedsTheCurrentVersion(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "current.json", []byte(`{"run":"a"}`))
	_, stale := mustGetVersioned(t, s, bucket, "current.json")
	if err := putIfVersion(s, bucket, "current.json", []byte(`{"run":"b"}`), stale); err != nil {
		t.Fatalf("write with the current version: %v", err)
	}
	_, fresh := mustGetVersioned(t, s, bucket, "current.json")
	err := putIfVersion(s, bucket, "current.json", []byte(`{"run":"c"}`), stale)
	if !errors.Is(err, objstore.ErrVersionMismatch) {
		t.Fatalf("write with a stale version: %v, want wrapping ErrVersionMismatch", err)
	}
	t.Logf("refused stale write: %v", err)
	body, v := mustGetVersioned(t, s, bucket, "current.json")
	if string(body) != `{"run":"b"}` || v != fresh {
		t.Fatalf("after the refused write: %q at %q, want %q at %q", body, v, `{"run":"b"}`, fresh)
	}
}

// testUpdateOfMissingObject: the object read is gone, so the version is stale.
func testUpdateOfMissingObject(t *testing.T, s objstore.Store, bucket string) {
	mustPut(t, s, bucket, "elsewhere", []byte("x"))
	_, v := mustGetVersioned(t, s, bucket, "elsewhere")
	err := putIfVersion(s, bucket, "never-written", []byte("y"), v)
	if !errors.Is(err, objstore.ErrVersionMismatch) {
		t.Fatalf("versioned write of a missing object: %v, want wrapping ErrVersionMismatch", err)
	}
	t.Logf("refused write of a missing object: %v", err)
	if _, err := s.Stat(context.Background(), bucket, "never-written"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a refused write created the object: %v", err)
	}
}

// testConcurrentConditionalWriters: writers that all read the same version
// (or all saw no object) race; exactly one wins and its body stays.
func testConcurrentConditionalWriters(t *testing.T, s objstore.Store, bucket string) {
	const writers = 8
	mustPut(t, s, bucket, "update", []byte("initial"))
	_, v := mustGetVersioned(t, s, bucket, "update")
	for key, version := range map[string]string{"update": v, "create": objstore.VersionAbsent} {
		bodies := make([][]byte, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range bodies {
			bodies[i] = []byte(fmt.Sprintf(`{"writer":%d}`, i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = putIfVersion(s, bucket, key, bodies[i], version)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("%s: writers %d and %d both won", key, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, objstore.ErrVersionMismatch):
				t.Fatalf("%s: writer %d: %v, want success or ErrVersionMismatch", key, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no writer won", key)
		}
		if got := mustGet(t, s, bucket, key); !bytes.Equal(got, bodies[winner]) {
			t.Fatalf("%s holds %q, want the winner's %q", key, got, bodies[winner])
		}
	}
	objs, err := s.List(context.Background(), bucket, "")
	if err != nil || len(objs) != 2 {
		t.Fatalf("List after conditional writes = %+v, %v; want the two objects only", objs, err)
	}
}

func testPutIfVersionCreatesMissingBucket(t *testing.T, s objstore.Store, _ string) {
	missing := uniqueBucket(t)
	if err := putIfVersion(s, missing, "current.json", []byte(`{"ok":true}`), objstore.VersionAbsent); err != nil {
		t.Fatalf("create-only write to a missing bucket: %v", err)
	}
	if got := mustGet(t, s, missing, "current.json"); string(got) != `{"ok":true}` {
		t.Fatalf("got %q", got)
	}
}
