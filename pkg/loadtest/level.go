package loadtest

import (
	"fmt"

	"github.com/flts/flts-e2e/pkg/report"
)

// LevelResult turns a finished level into the report's data: the merged
// summary, the sampler's series (nil sampler: none) and the scale times
// measured from the load's start. A level passes when no request failed
// (429 back-pressure answers are not failures); callers with other
// criteria overwrite Passed and FailureReason.
func LevelResult(in Input, res Result, s *Sampler) report.LevelResult {
	l := report.LevelResult{Users: in.Users, Workers: in.Workers, Duration: in.Duration, Summary: res.Summary}
	if l.Workers == 0 {
		l.Workers = len(res.PerWorker)
	}
	if s != nil {
		l.Replicas, l.PodCPU = s.Replicas(), s.PodCPU()
	}
	start := res.Summary.Start
	if start.IsZero() {
		start = res.Start
	}
	l.FirstScaleUp, l.Peak, l.BackToMin, l.MaxReplicas = report.ScaleTimes(l.Replicas, start)
	switch n := res.Summary.FailureCount(); {
	case res.Summary.Requests == 0:
		l.FailureReason = "no request completed"
	case n > 0:
		l.FailureReason = fmt.Sprintf("%d of %d requests failed", n, res.Summary.Requests)
	default:
		l.Passed = true
	}
	return l
}
