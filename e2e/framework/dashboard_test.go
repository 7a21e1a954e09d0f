package framework

import (
	"strings"
	"testing"
)

func TestDashboardQueries(t *testing.T) {
	good := `{"title": "t", "uid": "u", "panels": [
		{"id": 1, "type": "timeseries", "title": "a", "datasource": {"type": "prometheus", "uid": "${datasource}"},
		 "targets": [{"refId": "A", "expr": "rate(x[$__rate_interval])"}]},
		{"id": 2, "type": "row", "title": "r", "panels": [
			{"id": 3, "type": "stat", "title": "b", "datasource": {"type": "prometheus", "uid": "${datasource}"},
			 "targets": [{"refId": "A", "expr": "up"}, {"refId": "B", "expr": "ALERTS"}]}]}]}`
	qs, err := DashboardQueries([]byte(good))
	if err != nil || len(qs) != 3 || qs[1] != (DashboardQuery{Panel: "b", RefID: "A", Expr: "up"}) {
		t.Fatalf("DashboardQueries = %+v, %v", qs, err)
	}
	if got := ExpandGrafanaVariables(qs[0].Expr, "1m"); got != "rate(x[1m])" {
		t.Errorf("expanded %q", got)
	}
	for bad, want := range map[string]string{
		`{`: "not JSON",
		`{"title": "t", "uid": "u", "panels": [{"id": 1, "title": "a", "datasource": {"type": "prometheus", "uid": "${datasource}"}}]}`:                                                                                                                                                  `panel "a" has no query`,
		`{"title": "t", "uid": "u", "panels": [{"id": 1, "title": "a", "datasource": {"type": "prometheus", "uid": "abc"}, "targets": [{"refId": "A", "expr": "up"}]}]}`:                                                                                                                 "want the ${datasource}",
		`{"title": "t", "uid": "u", "panels": [{"id": 1, "title": "a", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "targets": [{"refId": "A"}]}]}`:                                                                                                                     "has no expression",
		`{"title": "t", "uid": "u", "panels": [{"id": 1, "title": "a", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "targets": [{"expr": "up"}]}, {"id": 1, "title": "b", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "targets": [{"expr": "up"}]}]}`: "used twice",
		`{"panels": []}`: "no title or uid",
	} {
		if _, err := DashboardQueries([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
	}
}

func TestPromPointDecodes(t *testing.T) {
	var p PromPoint
	if err := p.UnmarshalJSON([]byte(`[1700000000.5, "0.25"]`)); err != nil || p.V != 0.25 || p.T.UnixMilli() != 1700000000500 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{`[1, 2]`, `["a", "1"]`, `[1, "x"]`, `{}`} {
		if err := p.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
