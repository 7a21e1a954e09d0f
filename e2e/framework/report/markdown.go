package report

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/atomicfile"
)

// Write regenerates <dir>/K8S_LOAD_TEST_REPORT.md and its plots from all
// data files in dir and returns the report's path.
func Write(dir string) (string, error) {
	d, err := Load(dir)
	if err != nil {
		return "", fmt.Errorf("failed to load report data: %w", err)
	}
	plots := map[string]string{} // key → path relative to dir
	save := func(key, name string, png []byte, err error) error {
		if err != nil {
			return fmt.Errorf("failed to plot %s: %w", name, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, PlotDir, name), png, 0o644); err != nil {
			return err
		}
		plots[key] = PlotDir + "/" + name
		return nil
	}
	for _, l := range d.Levels {
		png, err := levelPlot(l)
		if err := save(levelKey(l), fmt.Sprintf("level-%05du.png", l.Users), png, err); err != nil {
			return "", err
		}
	}
	if len(d.Levels) > 0 {
		png, err := latencyPlot(d.Levels)
		if err := save("latency", "latency-by-users.png", png, err); err != nil {
			return "", err
		}
	}
	if d.HPA != nil && len(d.HPA.Replicas) > 0 {
		png, err := hpaPlot(*d.HPA)
		if err := save("hpa", "hpa-replicas.png", png, err); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, ReportFile)
	if err := atomicfile.Write(path, []byte(Markdown(d, plots)), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func levelKey(l LevelResult) string { return fmt.Sprintf("level-%d", l.Users) }

// Markdown renders the report; plots maps plot keys to relative paths.
func Markdown(d Data, plots map[string]string) string {
	var b strings.Builder
	b.WriteString("# FLTS on Kubernetes: load-test report\n\n")
	b.WriteString(Verdict(d) + "\n\n")
	b.WriteString("Load model: closed-loop virtual users (send, wait for the answer, think, repeat), as the original's Locust users; " +
		"429 answers (the server's back-pressure) are counted apart from failures; latency percentiles come from one histogram " +
		"merged exactly over all load-generator pods.\n\n")

	if len(d.Levels) > 0 {
		b.WriteString("## Load levels\n\n")
		for _, l := range d.Levels {
			writeLevel(&b, l, plots[levelKey(l)])
		}
		if p, ok := plots["latency"]; ok {
			fmt.Fprintf(&b, "### Latency by user level\n\n![latency percentiles by users](%s)\n\n", p)
		}
	}
	writeComparison(&b, d.Levels)
	writeBaselines(&b, d)
	if d.HPA != nil {
		writeHPA(&b, *d.HPA, plots["hpa"])
	}
	if len(d.Files) > 0 {
		b.WriteString("## Data\n\nGenerated from: ")
		for i, f := range d.Files {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "`%s`", f)
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// Verdict is the report's opening paragraph, computed from the data.
func Verdict(d Data) string {
	if len(d.Levels) == 0 && d.HPA == nil {
		return "**Verdict: no data.** No load level or HPA run was recorded."
	}
	var parts []string
	failed := false
	var passedNames, failedNames []string
	for _, l := range d.Levels {
		if l.Passed {
			passedNames = append(passedNames, fmt.Sprintf("%d users", l.Users))
		} else {
			failed = true
			failedNames = append(failedNames, fmt.Sprintf("%d users (%s)", l.Users, orUnknown(l.FailureReason)))
		}
	}
	if d.HPA != nil && !d.HPA.Passed {
		failed = true
	}
	if failed {
		parts = append(parts, "**Verdict: FAILED.**")
	} else {
		parts = append(parts, "**Verdict: PASSED.**")
	}
	if n := len(d.Levels); n > 0 {
		s := fmt.Sprintf("%d of %d load levels passed", len(passedNames), n)
		if len(passedNames) > 0 {
			s += " (" + strings.Join(passedNames, ", ") + ")"
		}
		if len(failedNames) > 0 {
			s += "; failed: " + strings.Join(failedNames, "; ")
		}
		parts = append(parts, s+".")
		var clean *LevelResult
		best := &d.Levels[0]
		for i := range d.Levels {
			l := &d.Levels[i]
			if l.Summary.Requests > 0 && l.Summary.FailureCount() == 0 && (clean == nil || l.Users > clean.Users) {
				clean = l
			}
			if l.Summary.Requests > 0 && (best.Summary.Requests == 0 || l.Summary.P95 < best.Summary.P95) {
				best = l
			}
		}
		if clean != nil {
			parts = append(parts, fmt.Sprintf("The most users served with 0 failures: %d, at %.1f req/s with p95 %s.",
				clean.Users, clean.Summary.RPS, fmtLatency(clean.Summary.P95)))
		} else {
			parts = append(parts, "No level completed without failures.")
		}
		if best.Summary.Requests > 0 {
			parts = append(parts, fmt.Sprintf("Best p95: %s at %d users.", fmtLatency(best.Summary.P95), best.Users))
		}
		for _, l := range d.Levels {
			if l.FirstScaleUp > 0 {
				parts = append(parts, fmt.Sprintf("At %d users the first scale-up came after %s, up to %d replicas.",
					l.Users, fmtSpan(l.FirstScaleUp), l.MaxReplicas))
			}
		}
	}
	if h := d.HPA; h != nil {
		s := fmt.Sprintf("HPA run (%d users, from load start): scale-up decided after %s, new pods serving after %s; back to the minimum of %d replicas after %s from load stop",
			h.Users, fmtSpan(h.ScaleUpDecision), fmtSpan(h.NewPodsServing), h.MinReplicas, fmtSpan(h.ScaleDown))
		if h.Passed {
			s += "; passed."
		} else {
			s += "; FAILED: " + orUnknown(h.FailureReason) + "."
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func writeLevel(b *strings.Builder, l LevelResult, plot string) {
	s := l.Summary
	status := "PASSED"
	if !l.Passed {
		status = "FAILED: " + orUnknown(l.FailureReason)
	}
	fmt.Fprintf(b, "### %d users (%d load-generator pods, %s): %s\n\n", l.Users, l.Workers, fmtSpan(l.Duration), status)
	b.WriteString("| metric | value |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }
	row("requests", fmt.Sprint(s.Requests))
	row("successes", fmt.Sprint(s.Successes))
	row("throughput", fmt.Sprintf("%.1f req/s", s.RPS))
	row("p50 / p95 / p99 / max", fmt.Sprintf("%s / %s / %s / %s", fmtLatency(s.P50), fmtLatency(s.P95), fmtLatency(s.P99), fmtLatency(s.Max)))
	row("failures", fmt.Sprintf("%d (%.2f %%)", s.FailureCount(), 100*s.FailureRate()))
	for _, cause := range slices.Sorted(maps.Keys(s.Failures)) {
		row("&nbsp;&nbsp;"+cause, fmt.Sprint(s.Failures[cause]))
	}
	row("429 throttled (not failures)", fmt.Sprint(s.Throttled429))
	if l.MaxReplicas > 0 {
		row("max replicas", fmt.Sprint(l.MaxReplicas))
	}
	row("first scale-up / peak / back to min", fmt.Sprintf("%s / %s / %s", fmtSpan(l.FirstScaleUp), fmtSpan(l.Peak), fmtSpan(l.BackToMin)))
	b.WriteString("\n")
	if len(s.ServedBy) > 0 {
		total := 0
		for _, n := range s.ServedBy {
			total += n
		}
		b.WriteString("| pod | answers | share |\n|---|---|---|\n")
		for _, pod := range slices.Sorted(maps.Keys(s.ServedBy)) {
			fmt.Fprintf(b, "| %s | %d | %.1f %% |\n", pod, s.ServedBy[pod], 100*float64(s.ServedBy[pod])/float64(total))
		}
		b.WriteString("\n")
	}
	writePrometheus(b, l)
	if plot != "" {
		fmt.Fprintf(b, "![replicas and offered load at %d users](%s)\n\n", l.Users, plot)
	}
}

func writeComparison(b *strings.Builder, levels []LevelResult) {
	b.WriteString("## Against the original\n\n")
	b.WriteString("The original's rows are the figures recorded for the Python FLTS (flts-reference.md); the other rows are this run's measurements. " +
		"Replicas for this run are the most observed during the level.\n\n")
	b.WriteString("| source | replicas × users | req/s | failures | p50 / p95 |\n|---|---|---|---|---|\n")
	for _, o := range OriginalFigures() {
		fmt.Fprintf(b, "| original (Python, recorded) | %d × %d | %.1f | %.1f %% | %s / %s |\n",
			o.Replicas, o.Users, o.RPS, o.FailurePercent, fmtLatency(o.P50), fmtLatency(o.P95))
	}
	for _, l := range levels {
		reps := "?"
		if l.MaxReplicas > 0 {
			reps = fmt.Sprint(l.MaxReplicas)
		}
		fmt.Fprintf(b, "| flts-e2e (this run) | %s × %d | %.1f | %.1f %% | %s / %s |\n",
			reps, l.Users, l.Summary.RPS, 100*l.Summary.FailureRate(), fmtLatency(l.Summary.P50), fmtLatency(l.Summary.P95))
	}
	b.WriteString("\n")
}

func writeHPA(b *strings.Builder, h HPARun, plot string) {
	status := "PASSED"
	if !h.Passed {
		status = "FAILED: " + orUnknown(h.FailureReason)
	}
	fmt.Fprintf(b, "## HPA run: %s\n\n", status)
	b.WriteString("| metric | value |\n|---|---|\n")
	fmt.Fprintf(b, "| users | %d |\n| replicas min / max | %d / %d |\n| target CPU | %d %% |\n", h.Users, h.MinReplicas, h.MaxReplicas, h.TargetCPUPercent)
	fmt.Fprintf(b, "| scale-up decision (from load start) | %s |\n", fmtSpan(h.ScaleUpDecision))
	fmt.Fprintf(b, "| new pods serving (from load start) | %s |\n", fmtSpan(h.NewPodsServing))
	fmt.Fprintf(b, "| back to minimum (from load stop) | %s |\n", fmtSpan(h.ScaleDown))
	fmt.Fprintf(b, "| peak replicas | %d |\n", h.PeakReplicas)
	if s := h.Summary; s != nil {
		fmt.Fprintf(b, "| load | %d requests, %.1f req/s, %d failures, %d × 429, p95 %s |\n",
			s.Requests, s.RPS, s.FailureCount(), s.Throttled429, fmtLatency(s.P95))
	}
	b.WriteString("\n")
	if len(h.Timeline) > 0 {
		origin := h.LoadStart
		if origin.IsZero() {
			origin = h.Timeline[0].T
		}
		b.WriteString("| t (from load start) | event |\n|---|---|\n")
		for _, e := range h.Timeline {
			fmt.Fprintf(b, "| %s | %s |\n", fmtOffset(e.T.Sub(origin)), strings.ReplaceAll(e.Event, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	if plot != "" {
		fmt.Fprintf(b, "![HPA replicas over time](%s)\n\n", plot)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason recorded"
	}
	return s
}

// fmtLatency prints milliseconds below a second, else seconds.
func fmtLatency(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtSpan prints a duration of the run; zero means it was not observed.
func fmtSpan(d time.Duration) string {
	if d <= 0 {
		return "not observed"
	}
	return d.Round(time.Second).String()
}

func fmtOffset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + d.Round(time.Second).String()
}
