package report

import (
	"bytes"
	"fmt"
	"image/color"
	"maps"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// offeredRPS is the level's request rate over time: the recorded series,
// or else the summary's per-second counts averaged over 5 s (one second
// of a closed loop with 1-2 s think time is too noisy to read).
func offeredRPS(l LevelResult) []Sample {
	if len(l.OfferedRPS) > 0 {
		return l.OfferedRPS
	}
	tl := l.Summary.Timeline
	if len(tl) == 0 {
		return nil
	}
	const window = 5
	first := tl[0].T.Unix()
	sums := map[int64]int{}
	for _, s := range tl {
		sums[(s.T.Unix()-first)/window] += s.Requests
	}
	var out []Sample
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		out = append(out, Sample{T: time.Unix(first+k*window, 0).UTC(), Value: float64(sums[k]) / window})
	}
	return out
}

func seriesXY(samples []Sample, origin time.Time) plotter.XYs {
	xy := make(plotter.XYs, 0, len(samples))
	for _, s := range samples {
		xy = append(xy, plotter.XY{X: s.T.Sub(origin).Seconds(), Y: s.Value})
	}
	return xy
}

// levelOrigin is time zero of a level's plots: the load's start.
func levelOrigin(l LevelResult) time.Time {
	if !l.Summary.Start.IsZero() {
		return l.Summary.Start
	}
	for _, s := range [][]Sample{l.Replicas, l.OfferedRPS} {
		if len(s) > 0 {
			return s[0].T
		}
	}
	return time.Time{}
}

func newPlot(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since load start"
	p.Y.Label.Text = y
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, name string, xy plotter.XYs, i int) error {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("failed to draw %s: %w", name, err)
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// levelPlot draws replicas, offered load and (when measured) per-pod CPU
// of one level as stacked panels sharing the time axis.
func levelPlot(l LevelResult) ([]byte, error) {
	origin := levelOrigin(l)
	rep := newPlot(fmt.Sprintf("%d users: inference replicas", l.Users), "replicas")
	if err := addLine(rep, "replicas", seriesXY(l.Replicas, origin), 0); err != nil {
		return nil, err
	}
	load := newPlot(fmt.Sprintf("%d users: offered load", l.Users), "requests/s")
	if err := addLine(load, "requests/s", seriesXY(offeredRPS(l), origin), 1); err != nil {
		return nil, err
	}
	if p := l.Prometheus; p != nil {
		// The second source on the same panels: the two lines should
		// overlap.
		if err := addLine(rep, "replicas (Prometheus)", seriesXY(p.Replicas, origin), 2); err != nil {
			return nil, err
		}
		if err := addLine(load, "requests/s (Prometheus)", seriesXY(p.RPS, origin), 3); err != nil {
			return nil, err
		}
	}
	rows := [][]*plot.Plot{{rep}, {load}}
	if len(l.PodCPU) > 0 {
		cpu := newPlot(fmt.Sprintf("%d users: inference CPU", l.Users), "millicores")
		for i, pod := range slices.Sorted(maps.Keys(l.PodCPU)) {
			if err := addLine(cpu, pod, seriesXY(l.PodCPU[pod], origin), i+2); err != nil {
				return nil, err
			}
		}
		rows = append(rows, []*plot.Plot{cpu})
	}
	// One time axis for all panels, so the panels line up.
	lo, hi := rows[0][0].X.Min, rows[0][0].X.Max
	for _, r := range rows {
		lo, hi = min(lo, r[0].X.Min), max(hi, r[0].X.Max)
	}
	for _, r := range rows {
		r[0].X.Min, r[0].X.Max = lo, hi
	}
	return renderPNG(rows, 8*vg.Inch, vg.Length(len(rows))*3*vg.Inch)
}

// latencyPlot draws p50/p95/p99 against the number of users.
func latencyPlot(levels []LevelResult) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Latency by load level"
	p.X.Label.Text = "users"
	p.Y.Label.Text = "seconds"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	for i, q := range []struct {
		name string
		get  func(LevelResult) time.Duration
	}{
		{"p50", func(l LevelResult) time.Duration { return l.Summary.P50 }},
		{"p95", func(l LevelResult) time.Duration { return l.Summary.P95 }},
		{"p99", func(l LevelResult) time.Duration { return l.Summary.P99 }},
	} {
		xy := make(plotter.XYs, 0, len(levels))
		for _, l := range levels {
			xy = append(xy, plotter.XY{X: float64(l.Users), Y: q.get(l).Seconds()})
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, fmt.Errorf("failed to draw %s: %w", q.name, err)
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(q.name, line, points)
	}
	p.Legend.Top = true
	return renderPNG([][]*plot.Plot{{p}}, 8*vg.Inch, 4*vg.Inch)
}

// hpaPlot draws the replica count of the HPA run with the load window.
func hpaPlot(h HPARun) ([]byte, error) {
	origin := h.LoadStart
	if origin.IsZero() && len(h.Replicas) > 0 {
		origin = h.Replicas[0].T
	}
	p := newPlot(fmt.Sprintf("HPA run: replicas (%d users, min %d, max %d)", h.Users, h.MinReplicas, h.MaxReplicas), "replicas")
	if err := addLine(p, "replicas", seriesXY(h.Replicas, origin), 0); err != nil {
		return nil, err
	}
	if !h.LoadStop.IsZero() {
		top := float64(max(h.MaxReplicas, h.PeakReplicas, 1))
		stop := h.LoadStop.Sub(origin).Seconds()
		mark, err := plotter.NewLine(plotter.XYs{{X: stop, Y: 0}, {X: stop, Y: top}})
		if err != nil {
			return nil, fmt.Errorf("failed to draw load stop: %w", err)
		}
		mark.Color = color.Gray{Y: 120}
		mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(mark)
		p.Legend.Add("load stops", mark)
	}
	return renderPNG([][]*plot.Plot{{p}}, 8*vg.Inch, 3.5*vg.Inch)
}

func renderPNG(rows [][]*plot.Plot, w, h vg.Length) ([]byte, error) {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadX: vg.Points(4), PadY: vg.Points(10)}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("failed to encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
