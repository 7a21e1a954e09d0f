package loadgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigSummary has a long timeline, so its result spans several lines.
func bigSummary() Summary {
	s := Summary{Model: ModelClosedLoop, Users: 100, Requests: 3, Successes: 3, ServedBy: map[string]int{"inference-a": 3}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		var h Histogram
		h.Record(time.Duration(i+1) * time.Millisecond)
		s.Timeline = append(s.Timeline, Second{T: start.Add(time.Duration(i) * time.Second), Requests: 1, Histogram: h})
		s.Histogram.Record(time.Duration(i+1) * time.Millisecond)
	}
	return s
}

func TestResultSurvivesInterleavedLogLines(t *testing.T) {
	var out bytes.Buffer
	if err := WriteResult(&out, bigSummary()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("want a multi-line result, got %d lines", len(lines))
	}
	var log strings.Builder
	for i, l := range lines {
		if len(l) >= 16<<10 {
			t.Fatalf("line %d is %d bytes: the runtime would split it", i, len(l))
		}
		// stderr lines land between stdout lines in a container log.
		fmt.Fprintf(&log, "{\"level\":\"INFO\",\"msg\":\"load progress\",\"n\":%d}\n%s\n", i, l)
	}
	got, err := ReadResult(strings.NewReader(log.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 3 || len(got.Timeline) != 300 || got.Histogram.Count() != 300 {
		t.Fatalf("decoded requests %d timeline %d histogram %d", got.Requests, len(got.Timeline), got.Histogram.Count())
	}
}

func TestReadResultRejectsIncompleteAndMalformed(t *testing.T) {
	var out bytes.Buffer
	if err := WriteResult(&out, bigSummary()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	missing := strings.Join(append(append([]string{}, lines[:1]...), lines[2:]...), "\n")
	for name, log := range map[string]string{
		"missing part": missing,
		"no result":    "just logs\n",
		"bad sequence": ResultPrefix + "x/2 {}\n",
		"out of range": ResultPrefix + "3/2 {}\n",
		"not json":     ResultPrefix + "1/1 {not json\n",
		"no model":     ResultPrefix + "1/1 {}\n",
		"orphan part":  ResultPrefix + "2/2 {}\n",
	} {
		if _, err := ReadResult(strings.NewReader(log)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	// A second, complete result (a restarted container) replaces the first.
	twice := missing + "\n" + out.String()
	if s, err := ReadResult(strings.NewReader(twice)); err != nil || len(s.Timeline) != 300 {
		t.Fatalf("restarted result: %v", err)
	}
}
