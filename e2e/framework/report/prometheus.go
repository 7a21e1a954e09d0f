package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/inference"
)

// RequestTolerance bounds how far the pods' request count may be from the
// load generator's. They count the same requests; what separates them is
// the edges: a request in flight when the load stops, and the suite's own
// few requests (the drain load after the level, the guards) that the
// pods count too.
const RequestTolerance = 0.05

// Disagreement says where Prometheus and the load generator (or the HPA
// sampler) disagree beyond the stated tolerances, "" when they agree:
//   - requests within RequestTolerance;
//   - the server-side p95 no higher than the upper bound of the histogram
//     bucket holding the client-side p95: each request's server time is
//     part of its client time, so the true server p95 is at most the
//     client p95, and histogram_quantile interpolates within a bucket;
//   - the same peak of HPA replicas (both read the HPA's status, which
//     holds each value for at least a sync period, 15 s, longer than
//     either's sampling).
func (l LevelResult) Disagreement() string {
	p := l.Prometheus
	if p == nil {
		return "no Prometheus figures"
	}
	var out []string
	if p.Err != "" {
		out = append(out, "figures not read: "+p.Err)
	}
	if n := float64(l.Summary.Requests); n == 0 || math.Abs(p.Requests-n)/n > RequestTolerance {
		out = append(out, fmt.Sprintf("requests: Prometheus %.0f, load generator %d (more than %.0f %% apart)", p.Requests, l.Summary.Requests, 100*RequestTolerance))
	}
	if bound := bucketBound(l.Summary.P95); p.P95 <= 0 || p.P95 > bound {
		out = append(out, fmt.Sprintf("p95: Prometheus %s above %s, the bucket bound over the load generator's %s", p.P95, bound, l.Summary.P95))
	}
	if p.PeakReplicas != l.MaxReplicas {
		out = append(out, fmt.Sprintf("peak replicas: Prometheus %d, sampler %d", p.PeakReplicas, l.MaxReplicas))
	}
	return strings.Join(out, "; ")
}

// bucketBound is the upper bound of the latency bucket holding d.
func bucketBound(d time.Duration) time.Duration {
	buckets := inference.LatencyBuckets()
	i := slices.IndexFunc(buckets, func(b float64) bool { return d.Seconds() <= b })
	if i < 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(buckets[i] * float64(time.Second))
}

// AlertSpan is when an alert went pending, firing and back to inactive,
// each the first such change, zero when not seen.
type AlertSpan struct {
	Pending, Firing, Resolved time.Time
}

// Since says when each state came, counted from start ("not seen" for a
// state that did not come).
func (s AlertSpan) Since(start time.Time) string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "not seen"
		}
		return fmtOffset(t.Sub(start))
	}
	return fmt.Sprintf("pending %s, firing %s, resolved %s", at(s.Pending), at(s.Firing), at(s.Resolved))
}

// Span reads the first pending, the first firing after it and the first
// inactive after that from states.
func Span(states []AlertState) AlertSpan {
	var s AlertSpan
	for _, st := range states {
		switch {
		case st.State == "pending" && s.Pending.IsZero():
			s.Pending = st.T
		case st.State == "firing" && s.Firing.IsZero() && !s.Pending.IsZero():
			s.Firing = st.T
		case st.State == "inactive" && !s.Firing.IsZero() && s.Resolved.IsZero():
			s.Resolved = st.T
		case st.State == "inactive" && s.Firing.IsZero():
			// Pending that ended without firing (a flap, or the end of
			// an earlier level) starts nothing.
			s.Pending = time.Time{}
		}
	}
	return s
}

func writePrometheus(b *strings.Builder, l LevelResult) {
	p := l.Prometheus
	if p == nil {
		return
	}
	s := l.Summary
	fmt.Fprintf(b, "Second source, the chart's Prometheus (tolerances in report.Disagreement):\n\n")
	b.WriteString("| figure | load generator / sampler | Prometheus |\n|---|---|---|\n")
	fmt.Fprintf(b, "| /predict requests | %d | %.0f |\n", s.Requests, p.Requests)
	fmt.Fprintf(b, "| p95 (client / server side) | %s | %s |\n", fmtLatency(s.P95), fmtLatency(p.P95))
	fmt.Fprintf(b, "| peak replicas | %d | %d |\n", l.MaxReplicas, p.PeakReplicas)
	verdict := "agree"
	if d := l.Disagreement(); d != "" {
		verdict = "DISAGREE: " + d
	}
	fmt.Fprintf(b, "| verdict | %s | |\n\n", verdict)
	if len(p.AtMaxAlert) > 0 {
		fmt.Fprintf(b, "FltsInferenceAtMaxReplicas, from the start of the load: %s.\n\n", Span(p.AtMaxAlert).Since(s.Start))
	}
}
