package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/tracking"
)

type fixture struct {
	srv    *httptest.Server
	client *tracking.Client
	store  *dirstore.Store
}

func newFixture(t testing.TB, opts ...Option) *fixture {
	t.Helper()
	store, err := dirstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(store, opts...)
	if err := s.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, client: tracking.NewClient(srv.URL, srv.Client()), store: store}
}

// raw sends a request and returns status and decoded JSON body.
func (f *fixture) raw(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
	}
	return resp.StatusCode, out
}

func (f *fixture) experiment(t *testing.T, name string) string {
	t.Helper()
	id, err := f.client.GetOrCreateExperiment(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) run(t *testing.T, expID, name string, tags map[string]string) tracking.Run {
	t.Helper()
	r, err := f.client.CreateRun(context.Background(), expID, name, tags)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExperiments(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.experiment(t, "flts")
	if id == "" || id == "0" {
		t.Fatalf("experiment id = %q, want a new id after Default (0)", id)
	}
	again := f.experiment(t, "flts")
	if again != id {
		t.Fatalf("GetOrCreateExperiment twice returned %q then %q", id, again)
	}
	code, body := f.raw(t, http.MethodGet, tracking.APIPrefix+"experiments/get?experiment_id="+id, nil)
	exp := body["experiment"].(map[string]any)
	if code != 200 || exp["name"] != "flts" || exp["artifact_location"] != "s3://mlflow/"+id || exp["lifecycle_stage"] != "active" {
		t.Fatalf("experiments/get = %d %v", code, body)
	}
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"experiments/create", map[string]string{"name": "flts"})
	if code != 400 || body["error_code"] != tracking.ErrorCodeAlreadyExists {
		t.Fatalf("duplicate create = %d %v, want 400 RESOURCE_ALREADY_EXISTS", code, body)
	}
	code, body = f.raw(t, http.MethodGet, tracking.APIPrefix+"experiments/get-by-name?experiment_name=nope", nil)
	if code != 404 || body["error_code"] != tracking.ErrorCodeNotFound {
		t.Fatalf("get-by-name(missing) = %d %v, want 404", code, body)
	}
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"experiments/create", map[string]string{})
	if code != 400 || body["error_code"] != tracking.ErrorCodeInvalidParameter {
		t.Fatalf("create without name = %d %v, want 400", code, body)
	}
	// Concurrent get-or-create of one name yields one experiment.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = f.client.GetOrCreateExperiment(ctx, "race")
		}()
	}
	wg.Wait()
	for _, x := range ids {
		if x == "" || x != ids[0] {
			t.Fatalf("concurrent GetOrCreateExperiment ids = %v, want one id", ids)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exp := f.experiment(t, "flts")
	r := f.run(t, exp, "gru-1", map[string]string{"model_type": "GRU"})
	if r.Info.Status != tracking.StatusRunning || r.Info.RunName != "gru-1" || r.Info.ExperimentID != exp || r.Tag("model_type") != "GRU" {
		t.Fatalf("created run = %+v", r)
	}
	if want := fmt.Sprintf("s3://mlflow/%s/%s/artifacts", exp, r.Info.RunID); r.Info.ArtifactURI != want {
		t.Fatalf("artifact_uri = %q, want %q", r.Info.ArtifactURI, want)
	}
	err := f.client.LogBatch(ctx, r.Info.RunID, map[string]float64{"rmse": 0.5, "mae": 0.25}, map[string]string{"window": "24"}, map[string]string{"config_hash": "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.SetTag(ctx, r.Info.RunID, "promoted", "true"); err != nil {
		t.Fatal(err)
	}
	code, body := f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/log-metric", map[string]any{"run_id": r.Info.RunID, "key": "rmse", "value": 0.4, "step": 2, "timestamp": 5})
	if code != 200 {
		t.Fatalf("log-metric = %d %v", code, body)
	}
	// An older step does not replace the latest value.
	f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/log-metric", map[string]any{"run_id": r.Info.RunID, "key": "rmse", "value": 9, "step": 1, "timestamp": 6})
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/log-parameter", map[string]any{"run_id": r.Info.RunID, "key": "lr", "value": "0.01"})
	if code != 200 {
		t.Fatalf("log-parameter = %d %v", code, body)
	}
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/log-parameter", map[string]any{"run_id": r.Info.RunID, "key": "lr", "value": "0.02"})
	if code != 400 || body["error_code"] != tracking.ErrorCodeInvalidParameter {
		t.Fatalf("changing a param = %d %v, want 400", code, body)
	}
	// run_uuid, MLflow's deprecated alias of run_id, names the run too.
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/log-parameter", map[string]any{"run_uuid": r.Info.RunID, "key": "horizon", "value": "12"})
	if code != 200 {
		t.Fatalf("log-parameter by run_uuid = %d %v", code, body)
	}
	code, body = f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/set-tag", map[string]any{"run_uuid": r.Info.RunID, "key": "stage", "value": "eval"})
	if code != 200 {
		t.Fatalf("set-tag by run_uuid = %d %v", code, body)
	}
	if err := f.client.UpdateRun(ctx, r.Info.RunID, tracking.StatusFinished); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetRun(ctx, r.Info.RunID)
	if err != nil {
		t.Fatal(err)
	}
	rmse, ok := got.Metric("rmse")
	mae, _ := got.Metric("mae")
	if !ok || rmse != 0.4 || mae != 0.25 {
		t.Fatalf("metrics rmse=%v(%v) mae=%v, want 0.4 and 0.25", rmse, ok, mae)
	}
	if _, ok := got.Metric("mse"); ok {
		t.Fatal("Metric(mse) reported a metric never logged")
	}
	if got.Param("window") != "24" || got.Param("lr") != "0.01" || got.Tag("config_hash") != "abc" || got.Tag("promoted") != "true" ||
		got.Param("horizon") != "12" || got.Tag("stage") != "eval" {
		t.Fatalf("params/tags = %+v", got.Data)
	}
	if got.Info.Status != tracking.StatusFinished || got.Info.EndTime == 0 {
		t.Fatalf("after update status=%s end_time=%d, want FINISHED with an end time", got.Info.Status, got.Info.EndTime)
	}
	// The record lives where the architecture says.
	if _, err := f.store.Stat(ctx, objstore.BucketMLflow, exp+"/"+r.Info.RunID+"/meta.json"); err != nil {
		t.Fatalf("run record not at mlflow/<exp>/<run>/meta.json: %v", err)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.client.GetRun(ctx, "0123456789abcdef0123456789abcdef")
	var ae *tracking.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.ErrorCode != tracking.ErrorCodeNotFound || !tracking.IsNotFound(err) {
		t.Fatalf("GetRun(unknown) error = %v, want 404 RESOURCE_DOES_NOT_EXIST", err)
	}
	if err := f.client.SetTag(ctx, "missing", "k", "v"); !tracking.IsNotFound(err) {
		t.Fatalf("SetTag(unknown run) = %v, want not found", err)
	}
	exp := f.experiment(t, "flts")
	r := f.run(t, exp, "", nil)
	if !strings.HasPrefix(r.Info.RunName, "run-") {
		t.Fatalf("generated run name %q", r.Info.RunName)
	}
	cases := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "runs/create", map[string]string{"experiment_id": "42"}, 404, tracking.ErrorCodeNotFound},
		{"POST", "runs/create", map[string]string{"experiment_id": "../x"}, 400, tracking.ErrorCodeInvalidParameter},
		{"POST", "runs/update", map[string]string{"run_id": r.Info.RunID, "status": "DONE"}, 400, tracking.ErrorCodeInvalidParameter},
		{"POST", "runs/log-metric", map[string]any{"run_id": r.Info.RunID, "key": "rmse"}, 400, tracking.ErrorCodeInvalidParameter},
		{"POST", "runs/log-metric", map[string]any{"run_id": r.Info.RunID, "key": "bad<key>", "value": 1}, 400, tracking.ErrorCodeInvalidParameter},
		{"POST", "runs/set-tag", map[string]any{"run_id": r.Info.RunID, "key": "", "value": "x"}, 400, tracking.ErrorCodeInvalidParameter},
		{"POST", "runs/set-tag", "{not json", 400, tracking.ErrorCodeBadRequest},
		{"GET", "runs/create", nil, 405, tracking.ErrorCodeMethodNotAllowed},
		{"POST", "runs/delete", map[string]string{}, 404, tracking.ErrorCodeEndpointNotFound},
		{"POST", "runs/search", map[string]any{}, 400, tracking.ErrorCodeInvalidParameter},
		{"GET", "artifacts/list?run_id=" + r.Info.RunID + "&path=../../etc", nil, 400, tracking.ErrorCodeInvalidParameter},
	}
	for _, c := range cases {
		code, body := f.raw(t, c.method, tracking.APIPrefix+c.path, c.body)
		if code != c.status || body["error_code"] != c.code || body["message"] == "" {
			t.Errorf("%s %s = %d %v, want %d %s with a message", c.method, c.path, code, body, c.status, c.code)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, WithMaxBodyBytes(1024))
	exp := f.experiment(t, "flts")
	r := f.run(t, exp, "x", nil)
	big := map[string]any{"run_id": r.Info.RunID, "key": "k", "value": strings.Repeat("v", 4096)}
	code, body := f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/set-tag", big)
	if code != http.StatusRequestEntityTooLarge || body["error_code"] != tracking.ErrorCodeLimitExceeded {
		t.Fatalf("oversized body = %d %v, want 413", code, body)
	}
	got, err := f.client.GetRun(context.Background(), r.Info.RunID)
	if err != nil || got.Tag("k") != "" {
		t.Fatalf("oversized request changed the run: %v %+v", err, got.Data.Tags)
	}
}

func TestSearchFiltersAndOrdering(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exp := f.experiment(t, "flts")
	other := f.experiment(t, "other")
	type spec struct {
		name, model, hash, status string
		rmse                      float64
		start                     int64
	}
	specs := []spec{
		{"gru", "GRU", "h1", tracking.StatusFinished, 0.30, 1000},
		{"lstm", "LSTM", "h1", tracking.StatusFinished, 0.20, 3000},
		{"prophet", "PROPHET", "h1", tracking.StatusFailed, 0.10, 2000},
		{"gru-old", "GRU", "h0", tracking.StatusFinished, 0.05, 500},
		{"norm", "GRU", "h1", tracking.StatusRunning, -1, 4000}, // no rmse logged
	}
	for _, s := range specs {
		code, body := f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/create", map[string]any{
			"experiment_id": exp, "run_name": s.name, "start_time": s.start,
			"tags": []tracking.RunTag{{Key: "model_type", Value: s.model}, {Key: "config_hash", Value: s.hash}},
		})
		if code != 200 {
			t.Fatalf("create %s = %d %v", s.name, code, body)
		}
		id := body["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		metrics := map[string]float64{}
		if s.rmse >= 0 {
			metrics["rmse"] = s.rmse
		}
		if err := f.client.LogBatch(ctx, id, metrics, map[string]string{"window": "24"}, nil); err != nil {
			t.Fatal(err)
		}
		if s.status != tracking.StatusRunning {
			if err := f.client.UpdateRun(ctx, id, s.status); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.run(t, other, "elsewhere", map[string]string{"config_hash": "h1"})

	names := func(runs []tracking.Run) string {
		var out []string
		for _, r := range runs {
			out = append(out, r.Info.RunName)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		filter  string
		orderBy []string
		want    string
	}{
		{"", nil, "norm,lstm,prophet,gru,gru-old"}, // default: start_time DESC
		{"tags.config_hash = 'h1' AND attributes.status = 'FINISHED'", []string{"metrics.rmse ASC"}, "lstm,gru"},
		{"tags.model_type = 'GRU'", []string{"metrics.rmse DESC"}, "gru,gru-old,norm"}, // missing metric last
		{"tags.model_type != 'GRU'", []string{"attributes.start_time DESC"}, "lstm,prophet"},
		{"metrics.rmse < 0.25 and params.window = '24'", []string{"metrics.rmse"}, "gru-old,prophet,lstm"},
		{"metrics.rmse >= 0.2", []string{"attributes.start_time ASC"}, "gru,lstm"},
		{"tags.`model_type` LIKE 'PRO%'", nil, "prophet"},
		{`tags."config_hash" ILIKE 'H_'`, []string{"attributes.run_name DESC"}, "prophet,norm,lstm,gru-old,gru"},
		{"status = 'FAILED'", nil, "prophet"},
		{"tags.mlflow.runName = 'gru'", nil, "gru"},
		{"params.missing = 'x'", nil, ""},
	}
	for _, c := range cases {
		runs, err := f.client.SearchRuns(ctx, []string{exp}, c.filter, c.orderBy)
		if err != nil {
			t.Fatalf("SearchRuns(%q, %v): %v", c.filter, c.orderBy, err)
		}
		if got := names(runs); got != c.want {
			t.Errorf("SearchRuns(%q, %v) = %s, want %s", c.filter, c.orderBy, got, c.want)
		}
	}
	both, err := f.client.SearchRuns(ctx, []string{exp, other}, "tags.config_hash = 'h1'", nil)
	if err != nil || len(both) != 5 {
		t.Fatalf("search across experiments = %d runs, %v; want 5", len(both), err)
	}

	// Pagination: max_results 2 over 5 runs gives tokens; the client follows them.
	code, body := f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/search", map[string]any{"experiment_ids": []string{exp}, "max_results": 2})
	if code != 200 || len(body["runs"].([]any)) != 2 || body["next_page_token"] == nil {
		t.Fatalf("paged search = %d %v", code, body)
	}

	for _, bad := range []string{"tags.model_type = GRU", "metrics.rmse = 'x'", "foo.bar = 'x'", "tags.x = 'a' OR tags.y = 'b'",
		"tags.x = 'unterminated", "rmse < 1", "tags.x < 'a'", "metrics.rmse LIKE 1", "attributes.nope = 'x'"} {
		code, body := f.raw(t, http.MethodPost, tracking.APIPrefix+"runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": bad})
		if code != 400 || body["error_code"] != tracking.ErrorCodeInvalidParameter {
			t.Errorf("bad filter %q = %d %v, want 400 INVALID_PARAMETER_VALUE", bad, code, body)
		}
	}
	_, err = f.client.SearchRuns(ctx, []string{exp}, "", []string{"metrics.rmse SIDEWAYS"})
	var ae *tracking.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Fatalf("bad order_by error = %v, want 400", err)
	}
}

func TestConcurrentLogBatchLosesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.run(t, f.experiment(t, "flts"), "busy", nil)
	const writers = 24
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("k%02d", i)
			errs[i] = f.client.LogBatch(ctx, r.Info.RunID, map[string]float64{"m_" + k: float64(i)}, map[string]string{"p_" + k: k}, map[string]string{"t_" + k: k})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetRun(ctx, r.Info.RunID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < writers; i++ {
		k := fmt.Sprintf("k%02d", i)
		if v, ok := got.Metric("m_" + k); !ok || v != float64(i) {
			t.Errorf("metric m_%s = %v,%v; lost", k, v, ok)
		}
		if got.Param("p_"+k) != k || got.Tag("t_"+k) != k {
			t.Errorf("param/tag %s lost", k)
		}
	}
}

func TestArtifacts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.run(t, f.experiment(t, "flts"), "with-model", nil)
	bucket, key, err := tracking.ArtifactLocation(r, "model/model.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s/%s/artifacts/model/model.json", r.Info.ExperimentID, r.Info.RunID); bucket != "mlflow" || key != want {
		t.Fatalf("ArtifactLocation = %s/%s, want mlflow/%s", bucket, key, want)
	}
	for _, bad := range []string{"", "../meta.json", "/abs", "model/../../x"} {
		if _, _, err := tracking.ArtifactLocation(r, bad); err == nil {
			t.Errorf("ArtifactLocation(%q) succeeded, want an error", bad)
		}
	}
	if err := f.store.Put(ctx, bucket, key, []byte(`{"model_type":"GRU"}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	_, plotKey, _ := tracking.ArtifactLocation(r, "plot.png")
	if err := f.store.Put(ctx, bucket, plotKey, []byte("png"), "image/png"); err != nil {
		t.Fatal(err)
	}
	root, err := f.client.ListArtifacts(ctx, r.Info.RunID, "")
	if err != nil {
		t.Fatal(err)
	}
	wantRoot := []tracking.FileInfo{{Path: "model", IsDir: true}, {Path: "plot.png", FileSize: 3}}
	if !slices.Equal(root, wantRoot) {
		t.Fatalf("ListArtifacts(root) = %+v, want %+v", root, wantRoot)
	}
	model, err := f.client.ListArtifacts(ctx, r.Info.RunID, "model")
	if err != nil || len(model) != 1 || model[0].Path != "model/model.json" || model[0].FileSize != 20 {
		t.Fatalf("ListArtifacts(model) = %+v, %v", model, err)
	}
	if _, err := f.client.ListArtifacts(ctx, "nope", ""); !tracking.IsNotFound(err) {
		t.Fatalf("ListArtifacts(unknown run) = %v, want not found", err)
	}
}

func TestPageShowsPromotedRunEscaped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exp := f.experiment(t, "flts")
	plain := f.run(t, exp, "plain-run", map[string]string{"model_type": "LSTM"})
	best := f.run(t, exp, "best-run", map[string]string{"model_type": "GRU", "note": "<script>alert(1)</script>"})
	if err := f.client.LogBatch(ctx, best.Info.RunID, map[string]float64{"rmse": 0.125}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.client.SetTag(ctx, best.Info.RunID, "promoted", "true"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<h2>Experiment ", "Promoted run: <span class=\"badge\">best-run</span> <code>" + best.Info.RunID, "(GRU)", "rmse = 0.125", plain.Info.RunID, "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("page contains an unescaped tag value")
	}
	code, body := f.raw(t, http.MethodGet, "/healthz", nil)
	if code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz = %d %v", code, body)
	}
}

func TestServerRestartKeepsData(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exp := f.experiment(t, "flts")
	r := f.run(t, exp, "persisted", nil)
	s2 := New(f.store)
	if err := s2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(s2)
	defer srv2.Close()
	c2 := tracking.NewClient(srv2.URL, nil)
	if id, err := c2.GetOrCreateExperiment(ctx, "flts"); err != nil || id != exp {
		t.Fatalf("after restart experiment = %q, %v; want %q", id, err, exp)
	}
	if got, err := c2.GetRun(ctx, r.Info.RunID); err != nil || got.Info.RunName != "persisted" {
		t.Fatalf("after restart run = %+v, %v", got.Info, err)
	}
}

// failingStore is a store whose every call fails, as MinIO does while down.
type failingStore struct{ objstore.Store }

func (failingStore) EnsureBucket(context.Context, string) error {
	return errors.New("dial tcp minio:9000: connection refused")
}

func TestReadyReflectsTheStoreAndRecoversAnEmptiedOne(t *testing.T) {
	root := t.TempDir()
	store, err := dirstore.New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(store))
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, client: tracking.NewClient(srv.URL, srv.Client()), store: store}
	if code, body := f.raw(t, http.MethodGet, "/ready", nil); code != http.StatusOK {
		t.Fatalf("/ready = %d %v", code, body)
	}
	f.experiment(t, "flts")
	// The store comes back empty: every bucket is gone.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // the store's own temporary directory, not a bucket
		}
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := f.raw(t, http.MethodGet, "/ready", nil); code != http.StatusOK {
		t.Fatalf("/ready after the store was emptied = %d %v", code, body)
	}
	if _, err := f.client.GetOrCreateExperiment(context.Background(), "flts"); err != nil {
		t.Fatalf("tracking does not work again after /ready: %v", err)
	}

	down := httptest.NewServer(New(failingStore{store}))
	t.Cleanup(down.Close)
	fd := &fixture{srv: down}
	code, body := fd.raw(t, http.MethodGet, "/ready", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "connection refused") {
		t.Fatalf("/ready with the store down = %d %v, want 503 naming the cause", code, body)
	}
}
