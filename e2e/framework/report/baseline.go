package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

// BaselineResult is one load level run against the Docker Compose
// baseline (fixtures/compose, `make loadtest-compose`): the pipeline's
// images on a Docker engine without Kubernetes, one inference container,
// no autoscaler, loaded as the suite loads the cluster (same users,
// workers, think times, ramp-up and duration rule).
type BaselineResult struct {
	// Platform is what ran the stack: "docker-compose".
	Platform string          `json:"platform"`
	Users    int             `json:"users"`
	Workers  int             `json:"workers"`
	Duration time.Duration   `json:"duration_ns"`
	Summary  loadgen.Summary `json:"summary"`
	// Replicas of the inference service (1: the baseline has no autoscaler).
	Replicas int `json:"replicas"`
	// Time the level ended, and the commit it ran from.
	Time   time.Time `json:"time"`
	Commit string    `json:"commit"`
}

// BaselineDir holds the baselines' data, beside DataDir and not in it:
// the suite empties DataDir at its start (no stale level in its report),
// while a baseline is measured by its own run (make baseline) before the
// suite's, and the report names its time and commit.
const BaselineDir = "baseline-data"

// baselineGlob matches the baselines' data files.
const baselineGlob = "baseline-*.json"

// SaveBaseline stores a baseline level (replacing an earlier run of the
// same platform and number of users) and returns the file's path.
func SaveBaseline(dir string, b BaselineResult) (string, error) {
	if b.Users < 1 || b.Platform == "" || strings.ContainsAny(b.Platform, `/\`) {
		return "", fmt.Errorf("failed to save baseline: need users >= 1 and a platform name, got %d and %q", b.Users, b.Platform)
	}
	return saveJSON(filepath.Join(dir, BaselineDir, fmt.Sprintf("baseline-%s-%05du.json", b.Platform, b.Users)), b)
}

// loadBaselines adds the baselines stored under dir to d (Load's part).
func loadBaselines(dir string, d *Data) error {
	paths, err := filepath.Glob(filepath.Join(dir, BaselineDir, baselineGlob))
	if err != nil {
		return fmt.Errorf("failed to list baseline data in %s: %w", dir, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var b BaselineResult
		if err := loadJSON(p, &b); err != nil {
			return err
		}
		d.Baselines = append(d.Baselines, b)
		d.Files = append(d.Files, filepath.Join(BaselineDir, filepath.Base(p)))
	}
	sort.SliceStable(d.Baselines, func(i, j int) bool { return d.Baselines[i].Users < d.Baselines[j].Users })
	return nil
}

// writeBaselines renders "Docker Compose baseline vs Kubernetes": per
// baseline, a side-by-side table with the suite's level of the same users
// when that level ran, else the baseline alone and a note saying so.
func writeBaselines(b *strings.Builder, d Data) {
	if len(d.Baselines) == 0 {
		return
	}
	b.WriteString("## Docker Compose baseline vs Kubernetes\n\n")
	b.WriteString("The same images and the same load (closed-loop users, load-generator containers on the stack's network, " +
		"the suite's think times, ramp-up and duration) on a Docker engine without Kubernetes: one inference container, " +
		"no autoscaler (`make baseline`, fixtures/compose). Kubernetes' replicas are the most observed during its level.\n\n")
	for _, base := range d.Baselines {
		var k8s *LevelResult
		for i := range d.Levels {
			if d.Levels[i].Users == base.Users {
				k8s = &d.Levels[i]
			}
		}
		fmt.Fprintf(b, "### %d users\n\n", base.Users)
		if k8s == nil {
			fmt.Fprintf(b, "The Kubernetes level of %d users has not run in this artifacts directory "+
				"(`make e2e GINKGO_ARGS='--label-filter=Load'` measures it); the baseline alone:\n\n", base.Users)
		}
		writeBaselineTable(b, base, k8s)
		fmt.Fprintf(b, "Baseline measured %s at commit `%s`.\n\n", base.Time.UTC().Format("2006-01-02 15:04 MST"), orUnknown(base.Commit))
	}
}

// writeBaselineTable writes the metrics of base, and of k8s beside them
// when it is not nil.
func writeBaselineTable(b *strings.Builder, base BaselineResult, k8s *LevelResult) {
	cols := []string{orUnknown(base.Platform)}
	var kube LevelResult
	if k8s != nil {
		cols, kube = append(cols, "Kubernetes"), *k8s
	}
	fmt.Fprintf(b, "| metric | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	row := func(name, baseline, kubernetes string) {
		if k8s == nil {
			fmt.Fprintf(b, "| %s | %s |\n", name, baseline)
			return
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", name, baseline, kubernetes)
	}
	metric := func(name string, f func(s loadgen.Summary) string) { row(name, f(base.Summary), f(kube.Summary)) }
	peak := "not observed"
	if kube.MaxReplicas > 0 {
		peak = fmt.Sprintf("%d (peak)", kube.MaxReplicas)
	}
	row("replicas", fmt.Sprint(base.Replicas), peak)
	row("load", fmt.Sprintf("%d workers, %s", base.Workers, fmtSpan(base.Duration)), fmt.Sprintf("%d workers, %s", kube.Workers, fmtSpan(kube.Duration)))
	metric("requests", func(s loadgen.Summary) string { return fmt.Sprint(s.Requests) })
	metric("throughput", func(s loadgen.Summary) string { return fmt.Sprintf("%.1f req/s", s.RPS) })
	metric("p50 / p95 / p99", func(s loadgen.Summary) string {
		return fmt.Sprintf("%s / %s / %s", fmtLatency(s.P50), fmtLatency(s.P95), fmtLatency(s.P99))
	})
	metric("failures", func(s loadgen.Summary) string {
		return fmt.Sprintf("%d (%.2f %%)", s.FailureCount(), 100*s.FailureRate())
	})
	metric("429 throttled", func(s loadgen.Summary) string { return fmt.Sprint(s.Throttled429) })
	b.WriteString("\n")
}
