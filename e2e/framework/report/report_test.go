package report

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// sampleSummary builds a summary the way the load generator does: counts
// per second, one histogram, then Merge derives rps and percentiles.
func sampleSummary(users, seconds, perSecond int, base time.Duration, fail map[string]int, throttled int) loadgen.Summary {
	s := loadgen.Summary{Model: loadgen.ModelClosedLoop, Users: users, Start: t0, End: t0.Add(time.Duration(seconds) * time.Second),
		Failures: fail, ServedBy: map[string]int{}}
	for sec := range seconds {
		second := loadgen.Second{T: t0.Add(time.Duration(sec) * time.Second)}
		for i := range perSecond {
			d := base + time.Duration(i)*base/time.Duration(perSecond)
			s.Histogram.Record(d)
			second.Histogram.Record(d)
			second.Requests++
			s.Requests++
			s.ServedBy[fmt.Sprintf("inference-%d", i%3)]++
		}
		s.Timeline = append(s.Timeline, second)
	}
	s.Throttled429 = throttled
	s.Successes = s.Requests - throttled - s.FailureCount()
	return loadgen.Merge(s)
}

func samples(values ...float64) []Sample {
	var out []Sample
	for i, v := range values {
		out = append(out, Sample{T: t0.Add(time.Duration(i*15) * time.Second), Value: v})
	}
	return out
}

func writeSampleData(t *testing.T, dir string) (ok, bad LevelResult) {
	t.Helper()
	ok = LevelResult{Users: 200, Workers: 4, Duration: 2 * time.Minute,
		Summary:  sampleSummary(200, 60, 130, 40*time.Millisecond, map[string]int{}, 17),
		Replicas: samples(2, 2, 3, 4, 4, 4), PodCPU: map[string][]Sample{"inference-0": samples(100, 900, 700), "inference-1": samples(120, 880, 650)},
		FirstScaleUp: 31 * time.Second, Peak: 75 * time.Second, MaxReplicas: 4, Passed: true}
	bad = LevelResult{Users: 800, Workers: 4, Duration: 2 * time.Minute,
		Summary:  sampleSummary(800, 60, 200, 900*time.Millisecond, map[string]int{"http_5xx:503": 12, "timeout": 3}, 250),
		Replicas: samples(4, 6, 8, 8), MaxReplicas: 8, Passed: false, FailureReason: "15 failed requests (0 allowed)"}
	for _, l := range []LevelResult{bad, ok} {
		if _, err := SaveLevel(dir, l); err != nil {
			t.Fatal(err)
		}
	}
	return ok, bad
}

func TestWriteReportFromData(t *testing.T) {
	dir := t.TempDir()
	ok, bad := writeSampleData(t, dir)
	if _, err := SaveHPA(dir, HPARun{Users: 50, MinReplicas: 2, MaxReplicas: 8, TargetCPUPercent: 70, LoadStart: t0, LoadStop: t0.Add(3 * time.Minute),
		ScaleUpDecision: 47 * time.Second, NewPodsServing: 68 * time.Second, ScaleDown: 362 * time.Second, PeakReplicas: 3,
		Replicas: samples(2, 2, 3, 3, 3, 2), Timeline: []HPAEvent{{T: t0.Add(47 * time.Second), Event: "desired replicas 2 → 3"}},
		Passed: true}); err != nil {
		t.Fatal(err)
	}
	path, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	for _, want := range []string{
		// per-level numbers, formatted from the data
		fmt.Sprintf("| throughput | %.1f req/s |", ok.Summary.RPS),
		fmt.Sprintf("| requests | %d |", ok.Summary.Requests),
		fmt.Sprintf("| requests | %d |", bad.Summary.Requests),
		fmt.Sprintf("%s / %s / %s / %s", fmtLatency(ok.Summary.P50), fmtLatency(ok.Summary.P95), fmtLatency(ok.Summary.P99), fmtLatency(ok.Summary.Max)),
		"| &nbsp;&nbsp;http_5xx:503 | 12 |", "| &nbsp;&nbsp;timeout | 3 |",
		fmt.Sprintf("| 429 throttled (not failures) | %d |", ok.Summary.Throttled429),
		fmt.Sprintf("| inference-0 | %d |", ok.Summary.ServedBy["inference-0"]),
		"### 800 users (4 load-generator pods, 2m0s): FAILED: 15 failed requests (0 allowed)",
		// the original's figures, labelled, next to this run's
		"| original (Python, recorded) | 1 × 200 | 12.3 | 63.4 % | 1.40 s / 5.20 s |",
		"| original (Python, recorded) | 8 × 400 | 56.1 | 0.0 % | 3.40 s / 6.40 s |",
		fmt.Sprintf("| flts-e2e (this run) | 4 × 200 | %.1f | 0.0 %% |", ok.Summary.RPS),
		// HPA section
		"| scale-up decision (from load start) | 47s |", "| back to minimum (from load stop) | 6m2s |", "| +47s | desired replicas 2 → 3 |",
		"plots/level-00200u.png", "plots/latency-by-users.png", "plots/hpa-replicas.png",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	verdict := strings.SplitN(md, "\n\n", 3)[1]
	for _, want := range []string{"FAILED", "1 of 2 load levels passed", "800 users (15 failed requests", "0 failures: 200",
		"Best p95: " + fmtLatency(ok.Summary.P95) + " at 200 users", "new pods serving after 1m8s"} {
		if !strings.Contains(verdict, want) {
			t.Errorf("verdict %q lacks %q", verdict, want)
		}
	}
	for _, p := range []string{"level-00200u.png", "level-00800u.png", "latency-by-users.png", "hpa-replicas.png"} {
		b, err := os.ReadFile(filepath.Join(dir, PlotDir, p))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s is not a usable PNG: %v", p, err)
		}
	}
}

func TestVerdictPassesOnlyWhenEverythingPassed(t *testing.T) {
	dir := t.TempDir()
	ok, _ := writeSampleData(t, dir)
	d := Data{Levels: []LevelResult{ok}}
	if v := Verdict(d); !strings.HasPrefix(v, "**Verdict: PASSED.**") || !strings.Contains(v, "1 of 1 load levels passed") {
		t.Errorf("verdict %q", v)
	}
	d.HPA = &HPARun{Users: 50, MinReplicas: 2, Passed: false, FailureReason: "no scale-up within 5m"}
	if v := Verdict(d); !strings.HasPrefix(v, "**Verdict: FAILED.**") || !strings.Contains(v, "no scale-up within 5m") ||
		!strings.Contains(v, "scale-up decided after not observed") {
		t.Errorf("verdict %q", v)
	}
	if v := Verdict(Data{}); !strings.Contains(v, "no data") {
		t.Errorf("empty verdict %q", v)
	}
}

func TestSaveReplacesLevelAndRegenerates(t *testing.T) {
	dir := t.TempDir()
	ok, _ := writeSampleData(t, dir)
	ok.Summary = sampleSummary(200, 10, 50, 10*time.Millisecond, map[string]int{}, 0)
	if _, err := SaveLevel(dir, ok); err != nil {
		t.Fatal(err)
	}
	d, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Levels) != 2 || d.Levels[0].Users != 200 || d.Levels[0].Summary.Requests != 500 || d.HPA != nil {
		t.Fatalf("levels %d, first %d users %d requests, hpa %v", len(d.Levels), d.Levels[0].Users, d.Levels[0].Summary.Requests, d.HPA)
	}
	if _, err := SaveLevel(dir, LevelResult{}); err == nil {
		t.Error("want an error for a level without users")
	}
	if err := os.WriteFile(filepath.Join(dir, DataDir, "level-00009u.json"), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir); err == nil || !strings.Contains(err.Error(), "level-00009u.json") {
		t.Errorf("want an error naming the broken file, got %v", err)
	}
}

func TestDisagreement(t *testing.T) {
	base := LevelResult{MaxReplicas: 8, Summary: loadgen.Summary{Requests: 10000, P95: 4 * time.Millisecond},
		Prometheus: &PromFigures{Requests: 10300, P95: 5 * time.Millisecond, PeakReplicas: 8}}
	if d := base.Disagreement(); d != "" {
		t.Errorf("within tolerance: %q", d)
	}
	for name, c := range map[string]struct {
		change func(*LevelResult)
		want   string
	}{
		"requests":  {func(l *LevelResult) { l.Prometheus.Requests = 9400 }, "requests: Prometheus 9400"},
		"p95":       {func(l *LevelResult) { l.Prometheus.P95 = 6 * time.Millisecond }, "above 5ms, the bucket bound"},
		"no p95":    {func(l *LevelResult) { l.Prometheus.P95 = 0 }, "p95: Prometheus 0s"},
		"replicas":  {func(l *LevelResult) { l.Prometheus.PeakReplicas = 7 }, "peak replicas: Prometheus 7, sampler 8"},
		"read":      {func(l *LevelResult) { l.Prometheus.Err = "timeout" }, "not read: timeout"},
		"no source": {func(l *LevelResult) { l.Prometheus = nil }, "no Prometheus figures"},
	} {
		l := base
		p := *base.Prometheus
		l.Prometheus = &p
		c.change(&l)
		if d := l.Disagreement(); !strings.Contains(d, c.want) {
			t.Errorf("%s: %q, want it to say %q", name, d, c.want)
		}
	}
}

func TestSpan(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	got := Span([]AlertState{{at(0), "inactive"}, {at(10), "pending"}, {at(12), "inactive"}, {at(20), "pending"}, {at(40), "firing"}, {at(90), "inactive"}, {at(95), "pending"}})
	if want := (AlertSpan{Pending: at(20), Firing: at(40), Resolved: at(90)}); got != want {
		t.Errorf("Span = %+v, want %+v", got, want)
	}
	if got.Since(t0) != "pending +20s, firing +40s, resolved +1m30s" {
		t.Errorf("Since = %q", got.Since(t0))
	}
	if got := Span([]AlertState{{at(0), "inactive"}, {at(5), "firing"}}); !got.Firing.IsZero() || got.Since(t0) != "pending not seen, firing not seen, resolved not seen" {
		t.Errorf("firing with no pending seen: %+v", got)
	}
}
