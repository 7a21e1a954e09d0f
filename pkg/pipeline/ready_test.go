package pipeline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// downStore is an object store that refuses every call.
type downStore struct{ objstore.Store }

func (downStore) Stat(context.Context, string, string) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, errors.New("dial tcp minio:9000: connection refused")
}

func TestReadyNamesEachDependencyThatIsDown(t *testing.T) {
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	trackingUp := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || !trackingUp {
			http.Error(w, "store not reachable", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tr := tracking.NewClient(srv.URL, srv.Client())

	// Up: an empty store (no bucket, no promotion) is an answer, not an outage.
	if err := (&Conns{Store: store, Tracker: tr}).Ready(t.Context()); err != nil {
		t.Fatalf("Ready with every dependency up: %v", err)
	}
	trackingUp = false
	err = (&Conns{Store: downStore{}, Tracker: tr}).Ready(t.Context())
	if err == nil {
		t.Fatal("Ready with the store and tracking down succeeded")
	}
	for _, want := range []string{"object store: dial tcp minio:9000", "tracking: tracking is not ready: HTTP 503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Ready = %q, want it to name %q", err, want)
		}
	}
}
