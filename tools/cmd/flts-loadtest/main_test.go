package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/pkg/loadgen"
)

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--users", "0"},
		{"--users", "10", "--duration", "1m", "--ramp-up", "2m"},
		{"--users", "10", "--workers", "0"},
		{"--users", "10", "--mix", "all"},
		{"--users", "10", "extra"},
		{"--users", "ten"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, code, errb.String())
		}
	}
}

func TestDefaultRampUpIsAQuarter(t *testing.T) {
	var errb bytes.Buffer
	o, err := parse([]string{"--users", "8", "--duration", "2m"}, &errb)
	if err != nil || o.rampUp != 30*time.Second || o.workers != 4 || o.namespace != "flts" || o.artifacts != "_artifacts" {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

func TestPrintSummary(t *testing.T) {
	var h loadgen.Histogram
	for i := range 100 {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	s := loadgen.Merge(loadgen.Summary{Model: loadgen.ModelClosedLoop, Mix: "predict", Users: 8, Requests: 100, Successes: 90,
		Start: time.Unix(0, 0), End: time.Unix(10, 0), Failures: map[string]int{"timeout": 4}, Throttled429: 6,
		ServedBy: map[string]int{"inference-a": 55, "inference-b": 45}, Histogram: h})
	var out bytes.Buffer
	printSummary(&out, report.LevelResult{Users: 8, Workers: 2, Duration: 10 * time.Second, Summary: s, FailureReason: "4 of 100 requests failed"})
	for _, want := range []string{"FAILED (4 of 100 requests failed)", "10.0 req/s", "timeout", "429 throttled", "inference-a", "55", s.P95.Round(time.Millisecond).String()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary table lacks %q:\n%s", want, out.String())
		}
	}
}
