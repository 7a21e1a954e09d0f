package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DashboardQuery is one PromQL query of a Grafana dashboard panel.
type DashboardQuery struct {
	Panel string
	RefID string
	Expr  string
}

// DashboardQueries returns every query of a Grafana dashboard's panels
// (rows' nested panels included), or an error naming what is malformed: a
// panel with no query, a query with no expression, a panel not bound to
// the dashboard's Prometheus data-source variable.
func DashboardQueries(dashboard []byte) ([]DashboardQuery, error) {
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID         int `json:"id"`
		Title      string
		Type       string
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Title  string  `json:"title"`
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, fmt.Errorf("dashboard is not JSON: %w", err)
	}
	var out []DashboardQuery
	var errs []error
	if d.Title == "" || d.UID == "" {
		errs = append(errs, errors.New("dashboard has no title or uid"))
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if ids[p.ID] {
				errs = append(errs, fmt.Errorf("panel id %d is used twice", p.ID))
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				errs = append(errs, fmt.Errorf("panel %q: data source %+v, want the ${datasource} Prometheus variable", p.Title, p.Datasource))
			}
			if len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("panel %q has no query", p.Title))
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					errs = append(errs, fmt.Errorf("panel %q query %s has no expression", p.Title, t.RefID))
					continue
				}
				out = append(out, DashboardQuery{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
			}
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		errs = append(errs, errors.New("dashboard has no query"))
	}
	return out, errors.Join(errs...)
}

// ExpandGrafanaVariables replaces the Grafana variables the dashboard's
// queries use by what Grafana would put there, so Prometheus itself can
// parse and evaluate them: $__rate_interval by rateInterval (Grafana
// derives it from the scrape interval and the panel's step).
func ExpandGrafanaVariables(expr, rateInterval string) string {
	return strings.NewReplacer("$__rate_interval", rateInterval, "${__rate_interval}", rateInterval).Replace(expr)
}
