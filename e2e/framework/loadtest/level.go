package loadtest

import (
	"fmt"

	"github.com/flts/flts-e2e/e2e/framework/report"
)

// LevelResult turns a finished level into the report's data: the merged
// summary, the sampled replica and CPU series, and the HPA's reaction
// times (first scale-up and peak from the load's start, back to
// minReplicas from its end). A level passes when requests completed and
// none failed (429 back-pressure answers are not failures); callers with
// stricter criteria overwrite Passed and FailureReason.
func LevelResult(in Input, res Result, samples []HPASample, minReplicas int32) report.LevelResult {
	t := MeasureTimings(samples, minReplicas, res.Summary.Start, res.Summary.End)
	l := report.LevelResult{
		Users:        in.Users,
		Workers:      in.Workers,
		Duration:     in.Duration,
		Summary:      res.Summary,
		FirstScaleUp: t.FirstScaleUp,
		Peak:         t.Peak,
		BackToMin:    t.BackToMin,
		MaxReplicas:  int(t.PeakReplicas),
	}
	if l.Workers == 0 {
		l.Workers = len(res.PerWorker)
	}
	for _, s := range samples {
		l.Replicas = append(l.Replicas, report.Sample{T: s.T, Value: float64(s.Current)})
		for pod, m := range s.PodMilli {
			if l.PodCPU == nil {
				l.PodCPU = map[string][]report.Sample{}
			}
			l.PodCPU[pod] = append(l.PodCPU[pod], report.Sample{T: s.T, Value: float64(m)})
		}
	}
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
