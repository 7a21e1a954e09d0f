package server

import (
	"math"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/tracking"
)

// FuzzParseFilter checks the search filter grammar's invariants: it never
// panics; an accepted filter parses the same way twice and evaluates on any
// run without panicking; and each accepted string comparison matches a run
// built to satisfy it (= and LIKE mean what MLflow means, whatever the
// characters of the value: regexp metacharacters, newlines, quotes).
//
//	make fuzz (or: go test -run '^$' -fuzz FuzzParseFilter -fuzztime 60s ./pkg/tracking/server/)
func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		"",
		"metrics.rmse < 0.5",
		"tags.`model type` = 'GRU' AND params.epochs != '10'",
		"tags.config_hash LIKE 'ab%' and attributes.status = 'FINISHED'",
		`tags."a.b" ILIKE '%Gr_%'`,
		"attribute.start_time >= 1700000000000",
		"metrics.rmse <",
		"tags.x = 'unterminated",
		"tags.x LIKE '(.*+?[]{}|^$\\'",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		clauses, err := parseFilter(filter)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := parseFilter(filter)
		if err != nil || len(again) != len(clauses) {
			t.Fatalf("parse is not deterministic: %d clauses, then %d, %v", len(clauses), len(again), err)
		}
		probe := &tracking.Run{
			Info: tracking.RunInfo{RunID: "r", Status: "FINISHED", StartTime: 1, EndTime: 2},
			Data: tracking.RunData{Metrics: []tracking.Metric{{Key: "rmse", Value: 0.3}}, Tags: []tracking.RunTag{{Key: "k", Value: "v"}}},
		}
		for _, c := range clauses {
			_ = c.matches(probe)
			if c.isNum {
				if math.IsNaN(c.num) {
					t.Fatalf("accepted NaN in %q", filter)
				}
				continue
			}
			if c.id.entity != entityTag && c.id.entity != entityParam {
				continue
			}
			var value string
			switch c.op {
			case "=":
				value = c.str
			case "LIKE", "ILIKE":
				// % matches nothing, _ one character: this value satisfies the pattern.
				value = strings.NewReplacer("%", "", "_", "x").Replace(c.str)
			default:
				continue
			}
			run := &tracking.Run{Data: tracking.RunData{
				Tags:   []tracking.RunTag{{Key: c.id.key, Value: value}},
				Params: []tracking.Param{{Key: c.id.key, Value: value}},
			}}
			if !c.matches(run) {
				t.Fatalf("%q: clause %s %q does not match the value %q", filter, c.op, c.str, value)
			}
		}
	})
}
