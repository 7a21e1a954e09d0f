//go:build integration

package server

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore/objstoretest"
	"github.com/flts/flts-e2e/pkg/objstore/s3store"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// TestAgainstMinIO runs the tracking server on a real MinIO (FLTS_MINIO_BIN)
// and walks a trainer's path: experiment, run, metrics, model upload via
// ArtifactLocation, artifact listing, search for the best run.
func TestAgainstMinIO(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	store, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
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
	var ids []string
	for i, rmse := range []float64{0.3, 0.1, 0.2} {
		r, err := c.CreateRun(ctx, exp, "", map[string]string{"model_type": []string{"GRU", "LSTM", "PROPHET"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.LogBatch(ctx, r.Info.RunID, map[string]float64{"rmse": rmse}, map[string]string{"i": "x"}, nil); err != nil {
			t.Fatal(err)
		}
		bucket, key, err := tracking.ArtifactLocation(r, "model/model.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, bucket, key, []byte(`{}`), "application/json"); err != nil {
			t.Fatal(err)
		}
		if err := c.UpdateRun(ctx, r.Info.RunID, tracking.StatusFinished); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
	}
	best, err := c.SearchRuns(ctx, []string{exp}, "attributes.status = 'FINISHED'", []string{"metrics.rmse ASC"})
	if err != nil || len(best) != 3 || best[0].Info.RunID != ids[1] || best[0].Tag("model_type") != "LSTM" {
		t.Fatalf("best run = %+v, %v; want the LSTM run %s first", best, err, ids[1])
	}
	files, err := c.ListArtifacts(ctx, ids[1], "model")
	if err != nil || len(files) != 1 || files[0].Path != "model/model.json" {
		t.Fatalf("artifacts = %+v, %v", files, err)
	}
	if _, err := c.GetRun(ctx, "ffffffffffffffffffffffffffffffff"); !tracking.IsNotFound(err) {
		t.Fatalf("GetRun(unknown) = %v, want not found", err)
	}
}
