package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestMergeOfHalvesEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	whole, a, b := newRecorder(), newRecorder(), newRecorder()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	causes := []outcome{{}, {}, {}, {throttled: true}, {failure: "http_5xx:503"}, {failure: "timeout"}, {servedBy: "inference-a"}, {servedBy: "inference-b"}}
	for i := range 5000 {
		at := start.Add(time.Duration(i) * 7 * time.Millisecond)
		lat := time.Duration(rng.Int64N(int64(3 * time.Second)))
		o := causes[rng.IntN(len(causes))]
		whole.record(at, lat, o)
		if rng.IntN(3) == 0 {
			a.record(at, lat, o)
		} else {
			b.record(at, lat, o)
		}
	}
	end := start.Add(40 * time.Second)
	sw, sa, sb := whole.summary(), a.summary(), b.summary()
	for _, s := range []*Summary{&sw, &sa, &sb} {
		s.Start, s.End, s.Users, s.Model = start, end, 2, ModelClosedLoop
	}
	sw.Users = 4
	sw.finish()

	// Through JSON, as the per-pod results travel.
	var parts []Summary
	for _, s := range []Summary{sa, sb} {
		raw, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Summary
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, back)
	}
	merged := Merge(parts...)
	want, _ := json.Marshal(sw)
	got, _ := json.Marshal(merged)
	if string(want) != string(got) {
		t.Fatalf("merge of halves differs from the whole:\nwant %s\n got %s", want[:300], got[:300])
	}
	if merged.Requests != merged.Successes+merged.Throttled429+merged.FailureCount() {
		t.Errorf("requests %d != successes %d + 429 %d + failures %d", merged.Requests, merged.Successes, merged.Throttled429, merged.FailureCount())
	}
	if len(merged.Timeline) < 30 || merged.Timeline[0].T != start {
		t.Errorf("timeline has %d seconds starting %v", len(merged.Timeline), merged.Timeline[0].T)
	}
	if merged.RPS != float64(merged.Requests)/40 {
		t.Errorf("rps %g, want requests/40s", merged.RPS)
	}
}

// The first example of each failure cause survives the merge of workers.
func TestMergeKeepsFirstFailureExample(t *testing.T) {
	a := Summary{Failures: map[string]int{"connection": 1}, FailureExamples: map[string]string{"connection": "read: connection reset by peer"}}
	b := Summary{Failures: map[string]int{"connection": 2, "timeout": 1}, FailureExamples: map[string]string{"connection": "EOF", "timeout": "deadline"}}
	m := Merge(a, b)
	if m.FailureExamples["connection"] != "read: connection reset by peer" || m.FailureExamples["timeout"] != "deadline" {
		t.Errorf("examples %v", m.FailureExamples)
	}
	if m.Failures["connection"] != 3 {
		t.Errorf("failures %v", m.Failures)
	}
}
