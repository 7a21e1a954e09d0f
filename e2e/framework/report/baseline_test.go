package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleBaseline(users int) BaselineResult {
	return BaselineResult{Platform: "docker-compose", Users: users, Workers: 4, Duration: 130 * time.Second,
		Summary:  sampleSummary(users, 60, 90, 3*time.Millisecond, map[string]int{"http_5xx:503": 2}, 40),
		Replicas: 1, Time: t0.Add(time.Hour), Commit: "0123456789ab-dirty"}
}

func TestSaveAndLoadBaseline(t *testing.T) {
	dir := t.TempDir()
	want := sampleBaseline(200)
	path, err := SaveBaseline(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "baseline-docker-compose-00200u.json" {
		t.Errorf("saved as %s", path)
	}
	if _, err := SaveBaseline(dir, sampleBaseline(50)); err != nil {
		t.Fatal(err)
	}
	// A second run of the same level replaces the first.
	again := want
	again.Commit = "fedcba987654"
	if _, err := SaveBaseline(dir, again); err != nil {
		t.Fatal(err)
	}
	d, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Baselines) != 2 || d.Baselines[0].Users != 50 || d.Baselines[1].Users != 200 {
		t.Fatalf("loaded %d baselines, want 50 then 200 users: %+v", len(d.Baselines), d.Baselines)
	}
	got := d.Baselines[1]
	if got.Commit != "fedcba987654" || got.Platform != want.Platform || got.Replicas != 1 || got.Workers != 4 ||
		got.Duration != want.Duration || !got.Time.Equal(want.Time) || got.Summary.Requests != want.Summary.Requests ||
		got.Summary.P95 != want.Summary.P95 || got.Summary.Throttled429 != 40 {
		t.Errorf("round trip changed the baseline:\n got %+v\nwant %+v", got, again)
	}
	if !strings.Contains(strings.Join(d.Files, " "), filepath.Join(BaselineDir, "baseline-docker-compose-00200u.json")) {
		t.Errorf("files %q lack the baseline", d.Files)
	}
}

func TestSaveBaselineRejects(t *testing.T) {
	for _, b := range []BaselineResult{{Platform: "docker-compose"}, {Users: 200}, {Users: 200, Platform: "../x"}} {
		if _, err := SaveBaseline(t.TempDir(), b); err == nil {
			t.Errorf("saved %+v", b)
		}
	}
}

func TestBaselineBesideTheKubernetesLevel(t *testing.T) {
	dir := t.TempDir()
	ok, _ := writeSampleData(t, dir) // 200 users on 4 replicas at peak, and 800
	base := sampleBaseline(200)
	if _, err := SaveBaseline(dir, base); err != nil {
		t.Fatal(err)
	}
	md := writeReport(t, dir)
	section := md[strings.Index(md, "## Docker Compose baseline vs Kubernetes"):]
	for _, want := range []string{
		"### 200 users",
		"| metric | docker-compose | Kubernetes |",
		"| replicas | 1 | 4 (peak) |",
		"| load | 4 workers, 2m10s | 4 workers, 2m0s |",
		"| throughput | " + fmtRPS(base.Summary.RPS) + " | " + fmtRPS(ok.Summary.RPS) + " |",
		"| p50 / p95 / p99 | " + fmtLatency(base.Summary.P50) + " / " + fmtLatency(base.Summary.P95) + " / " + fmtLatency(base.Summary.P99) + " | " +
			fmtLatency(ok.Summary.P50) + " / " + fmtLatency(ok.Summary.P95) + " / " + fmtLatency(ok.Summary.P99) + " |",
		"| failures | 2 (0.04 %) | 0 (0.00 %) |",
		"| 429 throttled | 40 | 17 |",
		"at commit `0123456789ab-dirty`",
		"`baseline-data/baseline-docker-compose-00200u.json`",
	} {
		wantIn(t, "baseline section", section, want)
	}
	if strings.Contains(section, "has not run") {
		t.Error("the section says the Kubernetes level has not run, but it has")
	}
}

func TestBaselineAlone(t *testing.T) {
	dir := t.TempDir()
	if _, err := SaveBaseline(dir, sampleBaseline(200)); err != nil {
		t.Fatal(err)
	}
	md := writeReport(t, dir)
	for _, want := range []string{"## Docker Compose baseline vs Kubernetes", "The Kubernetes level of 200 users has not run",
		"| metric | docker-compose |\n|---|---|\n", "| replicas | 1 |\n", "| 429 throttled | 40 |\n"} {
		wantIn(t, "report", md, want)
	}
	if strings.Contains(md, "| Kubernetes |") {
		t.Error("a Kubernetes column with no Kubernetes level")
	}
}

func TestNoBaselineNoSection(t *testing.T) {
	dir := t.TempDir()
	writeSampleData(t, dir)
	d, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if md := Markdown(d, nil); strings.Contains(md, "Docker Compose") {
		t.Error("a baseline section without a baseline")
	}
}

// writeReport regenerates the report in dir and returns it.
func writeReport(t *testing.T, dir string) string {
	t.Helper()
	path, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func wantIn(t *testing.T, what, text, want string) {
	t.Helper()
	if !strings.Contains(text, want) {
		t.Errorf("%s lacks %q:\n%s", what, want, text)
	}
}

func fmtRPS(rps float64) string { return fmt.Sprintf("%.1f req/s", rps) }
