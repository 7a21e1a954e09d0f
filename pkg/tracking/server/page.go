package server

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/tracking"
)

// pageTmpl is the read-only overview. html/template escapes every value,
// so tag values and run names cannot inject markup.
var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"millis": func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).UTC().Format(time.RFC3339)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FLTS tracking</title>
<style>
body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
tr.promoted{background:#e6ffe6}.badge{background:#2a2;color:#fff;padding:0 .4em;border-radius:.3em}
ul{margin:0;padding-left:1em}
</style></head><body>
<h1>FLTS tracking</h1>
{{if .Promoted}}<p>Promoted run: <span class="badge">{{.Promoted.Info.RunName}}</span> <code>{{.Promoted.Info.RunID}}</code> ({{.Promoted.Tag "model_type"}})</p>{{else}}<p>No promoted run yet.</p>{{end}}
{{range .Experiments}}
<h2>Experiment {{.Experiment.Name}} <small>(id {{.Experiment.ExperimentID}}, {{len .Runs}} runs)</small></h2>
{{if .Runs}}<table>
<tr><th>run</th><th>status</th><th>started</th><th>metrics</th><th>params</th><th>tags</th></tr>
{{range .Runs}}<tr{{if eq (.Tag "promoted") "true"}} class="promoted"{{end}}>
<td>{{.Info.RunName}}{{if eq (.Tag "promoted") "true"}} <span class="badge">promoted</span>{{end}}<br><code>{{.Info.RunID}}</code></td>
<td>{{.Info.Status}}</td><td>{{millis .Info.StartTime}}</td>
<td><ul>{{range .Data.Metrics}}<li>{{.Key}} = {{printf "%.6g" .Value}}</li>{{end}}</ul></td>
<td><ul>{{range .Data.Params}}<li>{{.Key}} = {{.Value}}</li>{{end}}</ul></td>
<td><ul>{{range .Data.Tags}}<li>{{.Key}} = {{.Value}}</li>{{end}}</ul></td>
</tr>{{end}}
</table>{{end}}
{{else}}<p>No experiments.</p>{{end}}
</body></html>
`))

type pageExperiment struct {
	Experiment tracking.Experiment
	Runs       []tracking.Run
}

type pageData struct {
	Experiments []pageExperiment
	Promoted    *tracking.Run
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	exps, err := s.repo.listExperiments(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var data pageData
	for _, e := range exps {
		runs, err := s.repo.runsOf(r.Context(), []string{e.ExperimentID})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sortRuns(runs, nil)
		for i := range runs {
			slices.SortFunc(runs[i].Data.Metrics, func(a, b tracking.Metric) int { return strings.Compare(a.Key, b.Key) })
			slices.SortFunc(runs[i].Data.Tags, func(a, b tracking.RunTag) int { return strings.Compare(a.Key, b.Key) })
			slices.SortFunc(runs[i].Data.Params, func(a, b tracking.Param) int { return strings.Compare(a.Key, b.Key) })
			// Runs are newest first, so the first promoted one found is current.
			if data.Promoted == nil && runs[i].Tag(promotedTag) == "true" {
				run := runs[i]
				data.Promoted = &run
			}
		}
		data.Experiments = append(data.Experiments, pageExperiment{Experiment: e, Runs: runs})
	}
	var buf strings.Builder
	if err := pageTmpl.Execute(&buf, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(buf.String()))
}
