package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// failingPuts fails the writes of the keys its matcher matches, as a store
// going away between two writes does.
type failingPuts struct {
	objstore.Store
	mu   sync.Mutex
	fail func(key string) bool // nil: none fails
}

func (s *failingPuts) failing(fail func(key string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *failingPuts) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	s.mu.Lock()
	fail := s.fail != nil && s.fail(key)
	s.mu.Unlock()
	if fail {
		return errors.New("connection refused")
	}
	return s.Store.Put(ctx, bucket, key, body, contentType)
}

// TestAFailedRunCreationLeavesNoUnreachableRun: whichever of its two
// writes fails, a failed runs/create leaves no run that search lists and
// an update cannot reach (a trainer resuming it would fail for good).
func TestAFailedRunCreationLeavesNoUnreachableRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(key string) bool
	}{
		{"IndexWrite", func(key string) bool { return strings.HasPrefix(key, runIndexPrefix) }},
		{"RunWrite", func(key string) bool { return strings.HasSuffix(key, "/"+runMetaName) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			base, err := dirstore.New(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			store := &failingPuts{Store: base}
			s := New(store)
			if err := s.Init(ctx); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := tracking.NewClient(srv.URL, srv.Client())
			exp, err := c.GetOrCreateExperiment(ctx, "flts")
			if err != nil {
				t.Fatal(err)
			}
			store.failing(tc.fail)
			if _, err := c.CreateRun(ctx, exp, "gru", nil); err == nil {
				t.Fatal("runs/create succeeded although a write failed")
			}
			store.failing(nil)
			runs, err := c.SearchRuns(ctx, []string{exp}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if err := c.UpdateRun(ctx, r.Info.RunID, tracking.StatusFinished); err != nil {
					t.Errorf("search lists run %s (%s), which no update reaches: %v", r.Info.RunID, r.Info.Status, err)
				}
			}
		})
	}
}
