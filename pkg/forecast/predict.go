package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/model/prophet"
	"github.com/flts/flts-e2e/pkg/model/rnn"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

// ErrBadInput marks errors caused by the caller's data (HTTP 400).
var ErrBadInput = errors.New("bad input")

// ErrStepsOutOfRange marks a forecast length outside [1, MaxSteps] (HTTP 422).
var ErrStepsOutOfRange = errors.New("steps out of range")

// MaxSteps bounds one recursive forecast (one day at 2-minute steps).
const MaxSteps = 720

// Point is one forecast step in original units.
type Point struct {
	Time   time.Time
	Values map[string]float64 // KPI name -> value
}

// loaded is a validated artifact with its model.
type loaded struct {
	art      model.Artifact
	stepper  model.Stepper
	scaler   preprocess.Scaler
	step     time.Duration
	lastTime time.Time
}

func load(a model.Artifact) (*loaded, error) {
	if !slices.Equal(a.Targets, dataset.KPIs()) {
		return nil, fmt.Errorf("invalid artifact: targets %v are not the 11 KPIs", a.Targets)
	}
	if !slices.Equal(a.Features, preprocess.FeatureNames()) {
		return nil, fmt.Errorf("invalid artifact: features %v are not the 17 features", a.Features)
	}
	sc := preprocess.Scaler{Min: a.ScalerMin, Max: a.ScalerMax}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("invalid artifact: %w", err)
	}
	if a.Window < 1 || a.Window > 1000 || len(a.LastWindow) != a.Window {
		return nil, fmt.Errorf("invalid artifact: window %d with %d last-window rows", a.Window, len(a.LastWindow))
	}
	for i, row := range a.LastWindow {
		if len(row) != preprocess.NumFeatures {
			return nil, fmt.Errorf("invalid artifact: last_window row %d has %d values, want %d", i, len(row), preprocess.NumFeatures)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("invalid artifact: last_window row %d has a non-finite value", i)
			}
		}
	}
	lastTime, err := time.Parse(time.RFC3339, a.LastTime)
	if err != nil {
		return nil, fmt.Errorf("invalid artifact: last_time: %w", err)
	}
	if a.StepSeconds < 1 {
		return nil, fmt.Errorf("invalid artifact: step_seconds %d", a.StepSeconds)
	}
	l := &loaded{art: a, scaler: sc, step: time.Duration(a.StepSeconds) * time.Second, lastTime: lastTime.UTC()}
	switch a.ModelType {
	case model.TypeGRU, model.TypeLSTM:
		m, err := rnn.Unmarshal(a.Weights)
		if err != nil {
			return nil, fmt.Errorf("invalid artifact: %w", err)
		}
		if string(m.Cell) != a.ModelType || m.In != preprocess.NumFeatures || m.Out != dataset.NumKPIs {
			return nil, fmt.Errorf("invalid artifact: %s weights are a %s of %d inputs and %d outputs, want %s, %d and %d",
				a.ModelType, m.Cell, m.In, m.Out, a.ModelType, preprocess.NumFeatures, dataset.NumKPIs)
		}
		l.stepper = m
	case model.TypeProphet:
		m, err := prophet.Unmarshal(a.Weights)
		if err != nil {
			return nil, fmt.Errorf("invalid artifact: %w", err)
		}
		if len(m.Coef) != dataset.NumKPIs {
			return nil, fmt.Errorf("invalid artifact: prophet weights have %d targets, want %d", len(m.Coef), dataset.NumKPIs)
		}
		l.stepper = m
	default:
		return nil, fmt.Errorf("invalid artifact: unknown model type %q", a.ModelType)
	}
	return l, nil
}

// recurse forecasts steps rows after window (scaled rows, the last at
// time last). It returns scaled targets and their times.
func (l *loaded) recurse(window [][]float64, last time.Time, steps int) ([][]float64, []time.Time, error) {
	buf := make([][]float64, len(window), len(window)+steps)
	copy(buf, window)
	out := make([][]float64, steps)
	times := make([]time.Time, steps)
	for s := range steps {
		next := last.Add(l.step)
		dst := make([]float64, dataset.NumKPIs)
		if err := l.stepper.PredictStep(buf[len(buf)-len(window):], last, next, dst); err != nil {
			return nil, nil, fmt.Errorf("failed to forecast step %d: %w", s+1, err)
		}
		row := make([]float64, preprocess.NumFeatures)
		copy(row, dst)
		l.scaler.TimeRow(next, row)
		buf = append(buf, row)
		out[s], times[s] = dst, next
		last = next
	}
	return out, times, nil
}

// forecaster is the model.Forecaster of an artifact.
type forecaster struct{ l *loaded }

var _ model.Forecaster = forecaster{}

// Predict forecasts steps rows after a scaled window. The window's time
// is recovered from its time features (the year from the artifact's last time).
func (f forecaster) Predict(window [][]float64, steps int) ([][]float64, error) {
	if steps < 1 || steps > MaxSteps {
		return nil, fmt.Errorf("%w: %d not in [1, %d]", ErrStepsOutOfRange, steps, MaxSteps)
	}
	if len(window) < f.l.art.Window {
		return nil, fmt.Errorf("%w: window has %d rows, want at least %d", ErrBadInput, len(window), f.l.art.Window)
	}
	window = window[len(window)-f.l.art.Window:]
	for i, row := range window {
		if len(row) != preprocess.NumFeatures {
			return nil, fmt.Errorf("%w: window row %d has %d features, want %d", ErrBadInput, i, len(row), preprocess.NumFeatures)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: window row %d has a non-finite value", ErrBadInput, i)
			}
		}
	}
	last, err := f.l.scaler.DecodeTime(window[len(window)-1], f.l.lastTime)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	out, _, err := f.l.recurse(window, last, steps)
	return out, err
}

// Load validates an artifact (names, dimensions, finite weights) and
// returns its Forecaster, which works on scaled values.
func Load(a model.Artifact) (model.Forecaster, error) {
	l, err := load(a)
	if err != nil {
		return nil, err
	}
	return forecaster{l}, nil
}

// Predictor serves forecasts in original units. Safe for concurrent use.
type Predictor struct{ l *loaded }

// NewPredictor validates an artifact and returns its Predictor.
func NewPredictor(a model.Artifact) (*Predictor, error) {
	l, err := load(a)
	if err != nil {
		return nil, err
	}
	return &Predictor{l}, nil
}

// ModelType returns the artifact's model type.
func (p *Predictor) ModelType() string { return p.l.art.ModelType }

// RunID returns the artifact's run id.
func (p *Predictor) RunID() string { return p.l.art.RunID }

// Window returns how many input rows PredictFrom needs at least.
func (p *Predictor) Window() int { return p.l.art.Window }

// LastTime returns the time of the last row of the artifact's window.
func (p *Predictor) LastTime() time.Time { return p.l.lastTime }

// PredictLatest forecasts steps rows after the artifact's last window.
func (p *Predictor) PredictLatest(steps int) ([]Point, error) {
	if steps < 1 || steps > MaxSteps {
		return nil, fmt.Errorf("%w: %d not in [1, %d]", ErrStepsOutOfRange, steps, MaxSteps)
	}
	out, times, err := p.l.recurse(p.l.art.LastWindow, p.l.lastTime, steps)
	if err != nil {
		return nil, err
	}
	return p.points(out, times), nil
}

// PredictFrom forecasts steps rows after the caller's rows: times
// (strictly increasing) and, for each of the 11 KPIs, a column of the same
// length in original units. At least Window rows are needed; only the last
// Window are used. Other columns are ignored. Data errors wrap ErrBadInput.
func (p *Predictor) PredictFrom(times []time.Time, kpis map[string][]float64, steps int) ([]Point, error) {
	if steps < 1 || steps > MaxSteps {
		return nil, fmt.Errorf("%w: %d not in [1, %d]", ErrStepsOutOfRange, steps, MaxSteps)
	}
	w := p.l.art.Window
	if len(times) < w {
		return nil, fmt.Errorf("%w: got %d rows, need at least %d", ErrBadInput, len(times), w)
	}
	var missing []string
	for _, name := range dataset.KPIs() {
		col, ok := kpis[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if len(col) != len(times) {
			return nil, fmt.Errorf("%w: column %q has %d values for %d timestamps", ErrBadInput, name, len(col), len(times))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing column(s) %v", ErrBadInput, missing)
	}
	for i := 1; i < len(times); i++ {
		if !times[i].After(times[i-1]) {
			return nil, fmt.Errorf("%w: timestamp %d (%s) is not after the previous one", ErrBadInput, i, times[i].Format(time.RFC3339))
		}
	}
	first := len(times) - w
	rows := make([][]float64, w)
	for i := range rows {
		rows[i] = make([]float64, dataset.NumKPIs)
		for k, name := range dataset.KPIs() {
			v := kpis[name][first+i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: column %q row %d is not a finite number", ErrBadInput, name, first+i)
			}
			rows[i][k] = v
		}
	}
	scaled, err := preprocess.FeatureRows(times[first:], rows, p.l.scaler)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	out, ts, err := p.l.recurse(scaled, times[len(times)-1].UTC(), steps)
	if err != nil {
		return nil, err
	}
	return p.points(out, ts), nil
}

func (p *Predictor) points(out [][]float64, times []time.Time) []Point {
	names := dataset.KPIs()
	pts := make([]Point, len(out))
	for s, row := range out {
		vals := make(map[string]float64, len(names))
		for k, name := range names {
			vals[name] = p.l.scaler.Unscale(k, row[k])
		}
		pts[s] = Point{Time: times[s], Values: vals}
	}
	return pts
}
