package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// ModelClosedLoop names the user model: each user waits for its answer
// before thinking and sending the next request (as Locust users do), so
// the offered load falls when the server slows down.
const ModelClosedLoop = "closed-loop"

// Summary is the result of one load run (or the exact merge of several).
// Requests = Successes + Throttled429 + sum(Failures).
type Summary struct {
	Model    string        `json:"model"`
	Target   string        `json:"target,omitempty"`
	Mix      string        `json:"mix,omitempty"`
	Users    int           `json:"users"`
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"duration_ns"`

	Requests  int     `json:"requests"`
	Successes int     `json:"successes"`
	RPS       float64 `json:"rps"`

	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`

	// Failures counts failed requests by cause: "http_5xx:503",
	// "http_4xx:400", "timeout", "connection", "other".
	Failures map[string]int `json:"failures"`
	// FailureExamples holds, per cause, the first failure's error text and
	// when it happened, so a rare "connection" failure can be diagnosed.
	FailureExamples map[string]string `json:"failure_examples,omitempty"`
	// Throttled429 counts 429 "server busy" answers: the server's
	// back-pressure working as designed, so they are not failures.
	Throttled429 int `json:"throttled_429"`
	// ServedBy counts successful (2xx) answers per pod, from the
	// X-Served-By header; 429s and failures are not "served".
	ServedBy map[string]int `json:"served_by"`
	// ServedModels follows model switches: per pod, per model run (the
	// inference server's ModelRunHeader), the successful answers and
	// their span. Answers without the header are not counted here.
	ServedModels map[string]map[string]ModelSpan `json:"served_models,omitempty"`

	Histogram Histogram `json:"histogram"`
	Timeline  []Second  `json:"timeline"`
}

// Second holds what completed during one wall-clock second (T, UTC,
// truncated), so timelines from different generators merge by second.
type Second struct {
	T         time.Time     `json:"t"`
	Requests  int           `json:"requests"`
	Failures  int           `json:"failures"`
	Throttled int           `json:"throttled"`
	P95       time.Duration `json:"p95_ns"`
	Histogram Histogram     `json:"histogram"`
}

// ModelSpan is what one pod answered with one model run.
type ModelSpan struct {
	Answers int `json:"answers"`
	// FirstAnswered is when the earliest answer of this run was received.
	FirstAnswered time.Time `json:"first_answered"`
	// LastSent is when the latest request this run answered was sent.
	LastSent time.Time `json:"last_sent"`
}

func (m ModelSpan) merge(o ModelSpan) ModelSpan {
	if m.Answers == 0 {
		return o
	}
	if o.Answers == 0 {
		return m
	}
	m.Answers += o.Answers
	if o.FirstAnswered.Before(m.FirstAnswered) {
		m.FirstAnswered = o.FirstAnswered
	}
	if o.LastSent.After(m.LastSent) {
		m.LastSent = o.LastSent
	}
	return m
}

// addModelSpan merges span into ServedModels[pod][run], creating the maps.
func (s *Summary) addModelSpan(pod, run string, span ModelSpan) {
	if s.ServedModels == nil {
		s.ServedModels = map[string]map[string]ModelSpan{}
	}
	if s.ServedModels[pod] == nil {
		s.ServedModels[pod] = map[string]ModelSpan{}
	}
	s.ServedModels[pod][run] = s.ServedModels[pod][run].merge(span)
}

// MixedModels lists the answers that break a model switch: once a client
// has received a pod's first answer from a run, every request sent after
// that moment was admitted after the switch, so an answer from a run the
// pod served earlier means the pod went back or serves two models at once.
// Requests sent before the switch may finish on the old model (the server
// lets running requests end on the model they started with).
func (s Summary) MixedModels() []string {
	var out []string
	for _, pod := range slices.Sorted(maps.Keys(s.ServedModels)) {
		runs := s.ServedModels[pod]
		order := slices.SortedFunc(maps.Keys(runs), func(a, b string) int {
			return runs[a].FirstAnswered.Compare(runs[b].FirstAnswered)
		})
		for i, older := range order {
			for _, newer := range order[i+1:] {
				if switched := runs[newer].FirstAnswered; runs[older].LastSent.After(switched) {
					out = append(out, fmt.Sprintf("pod %s answered a request sent at %s with run %s, after its first answer from run %s at %s",
						pod, runs[older].LastSent.Format(time.RFC3339Nano), older, newer, switched.Format(time.RFC3339Nano)))
				}
			}
		}
	}
	return out
}

// FailureCount is the total of Failures.
func (s Summary) FailureCount() int {
	n := 0
	for _, c := range s.Failures {
		n += c
	}
	return n
}

// FailureRate is failures / requests (0 without requests).
func (s Summary) FailureRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.FailureCount()) / float64(s.Requests)
}

// finish recomputes the derived fields (percentiles, rps, duration) from
// the counted ones.
func (s *Summary) finish() {
	if !s.Start.IsZero() && s.End.After(s.Start) {
		s.Duration = s.End.Sub(s.Start)
	}
	if s.Duration > 0 {
		s.RPS = float64(s.Requests) / s.Duration.Seconds()
	}
	s.P50 = s.Histogram.Quantile(0.50)
	s.P95 = s.Histogram.Quantile(0.95)
	s.P99 = s.Histogram.Quantile(0.99)
	s.Max = s.Histogram.Max()
	for i := range s.Timeline {
		s.Timeline[i].P95 = s.Timeline[i].Histogram.Quantile(0.95)
	}
	if s.Failures == nil {
		s.Failures = map[string]int{}
	}
	if s.ServedBy == nil {
		s.ServedBy = map[string]int{}
	}
}

// Merge combines the summaries of generators that ran side by side into
// the summary one generator would have produced: counts and histograms are
// added, the span runs from the earliest start to the latest end, and the
// percentiles come from the merged histogram.
func Merge(parts ...Summary) Summary {
	out := Summary{Model: ModelClosedLoop, Failures: map[string]int{}, ServedBy: map[string]int{}}
	seconds := map[int64]*Second{}
	for i, p := range parts {
		if i == 0 {
			out.Model, out.Target, out.Mix = p.Model, p.Target, p.Mix
		}
		out.Users += p.Users
		if !p.Start.IsZero() && (out.Start.IsZero() || p.Start.Before(out.Start)) {
			out.Start = p.Start
		}
		if p.End.After(out.End) {
			out.End = p.End
		}
		out.Duration = max(out.Duration, p.Duration)
		out.Requests += p.Requests
		out.Successes += p.Successes
		out.Throttled429 += p.Throttled429
		for k, v := range p.Failures {
			out.Failures[k] += v
		}
		for k, v := range p.FailureExamples {
			if _, ok := out.FailureExamples[k]; !ok {
				if out.FailureExamples == nil {
					out.FailureExamples = map[string]string{}
				}
				out.FailureExamples[k] = v
			}
		}
		for k, v := range p.ServedBy {
			out.ServedBy[k] += v
		}
		for pod, runs := range p.ServedModels {
			for run, span := range runs {
				out.addModelSpan(pod, run, span)
			}
		}
		out.Histogram.Merge(&p.Histogram)
		for _, sec := range p.Timeline {
			key := sec.T.Unix()
			m, ok := seconds[key]
			if !ok {
				m = &Second{T: time.Unix(key, 0).UTC()}
				seconds[key] = m
			}
			m.Requests += sec.Requests
			m.Failures += sec.Failures
			m.Throttled += sec.Throttled
			m.Histogram.Merge(&sec.Histogram)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(seconds)) {
		out.Timeline = append(out.Timeline, *seconds[key])
	}
	out.finish()
	return out
}
