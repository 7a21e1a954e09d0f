package prophet

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Params configure the regression.
type Params struct {
	Changepoints     int     // evenly spaced trend changepoints
	ChangepointRange float64 // share of the training span they cover (the end stays linear)
	DailyOrder       int     // Fourier order of the daily cycle
	WeeklyOrder      int     // Fourier order of the weekly cycle
	Ridge            float64 // L2 penalty per row on every coefficient but the intercept
	ARCorrection     bool    // add phi·(last residual)
}

// DefaultParams returns the Prophet defaults scaled to a few weeks of data.
func DefaultParams() Params {
	return Params{Changepoints: 10, ChangepointRange: 0.8, DailyOrder: 6, WeeklyOrder: 3, Ridge: 0.01, ARCorrection: true}
}

// Validate reports the first out-of-range parameter.
func (p Params) Validate() error {
	switch {
	case p.Changepoints < 0 || p.Changepoints > 100:
		return fmt.Errorf("changepoints must be in [0, 100], got %d", p.Changepoints)
	case !(p.ChangepointRange > 0 && p.ChangepointRange <= 1):
		return fmt.Errorf("changepoint_range must be in (0, 1], got %g", p.ChangepointRange)
	case p.DailyOrder < 0 || p.DailyOrder > 50:
		return fmt.Errorf("daily_order must be in [0, 50], got %d", p.DailyOrder)
	case p.WeeklyOrder < 0 || p.WeeklyOrder > 50:
		return fmt.Errorf("weekly_order must be in [0, 50], got %d", p.WeeklyOrder)
	case !(p.Ridge >= 0) || math.IsInf(p.Ridge, 0):
		return fmt.Errorf("ridge must be a non-negative number, got %g", p.Ridge)
	}
	return nil
}

// Model is a fitted regression per target. Safe for concurrent use.
type Model struct {
	Start        time.Time   `json:"start"`     // t = 0
	SpanDays     float64     `json:"span_days"` // training span; the trend's time unit
	StepSeconds  int         `json:"step_seconds"`
	Changepoints []float64   `json:"changepoints"` // in trend time units
	DailyOrder   int         `json:"daily_order"`
	WeeklyOrder  int         `json:"weekly_order"`
	Coef         [][]float64 `json:"coef"` // per target, len = Columns()
	Phi          []float64   `json:"phi"`  // per target AR(1) coefficient of the residual
}

// Columns is the design-matrix width.
func (m *Model) Columns() int { return 2 + len(m.Changepoints) + 2*(m.DailyOrder+m.WeeklyOrder) }

// design writes the regressors of time t into row.
func (m *Model) design(t time.Time, row []float64) {
	days := t.Sub(m.Start).Hours() / 24
	tau := days / m.SpanDays
	row[0], row[1] = 1, tau
	c := 2
	for _, cp := range m.Changepoints {
		row[c] = max(0, tau-cp)
		c++
	}
	for k := 1; k <= m.DailyOrder; k++ {
		a := 2 * math.Pi * float64(k) * days
		row[c], row[c+1] = math.Sin(a), math.Cos(a)
		c += 2
	}
	for k := 1; k <= m.WeeklyOrder; k++ {
		a := 2 * math.Pi * float64(k) * days / 7
		row[c], row[c+1] = math.Sin(a), math.Cos(a)
		c += 2
	}
}

// Fit regresses each target column of y (rows x targets, at times) on
// trend and seasonality. step is the sampling period, used to scale the
// AR correction when a forecast is more than one step ahead.
func Fit(times []time.Time, y [][]float64, step time.Duration, p Params) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("failed to fit prophet: bad params: %w", err)
	}
	n := len(times)
	if n != len(y) || n == 0 {
		return nil, fmt.Errorf("failed to fit prophet: %d times for %d rows", n, len(y))
	}
	targets := len(y[0])
	span := times[n-1].Sub(times[0]).Hours() / 24
	if span <= 0 || step <= 0 {
		return nil, fmt.Errorf("failed to fit prophet: the training rows span no time")
	}
	m := &Model{Start: times[0], SpanDays: span, StepSeconds: int(step / time.Second),
		DailyOrder: p.DailyOrder, WeeklyOrder: p.WeeklyOrder}
	for j := 1; j <= p.Changepoints; j++ {
		m.Changepoints = append(m.Changepoints, p.ChangepointRange*float64(j)/float64(p.Changepoints+1))
	}
	cols := m.Columns()
	if n < cols {
		return nil, fmt.Errorf("failed to fit prophet: %d rows for %d regressors", n, cols)
	}
	ata := make([]float64, cols*cols)
	atb := make([]float64, cols*targets)
	row := make([]float64, cols)
	for i, t := range times {
		if len(y[i]) != targets {
			return nil, fmt.Errorf("failed to fit prophet: row %d has %d targets, want %d", i, len(y[i]), targets)
		}
		m.design(t, row)
		for a := range cols {
			ra := row[a]
			for b := a; b < cols; b++ {
				ata[a*cols+b] += ra * row[b]
			}
			for o, v := range y[i] {
				atb[a*targets+o] += ra * v
			}
		}
	}
	for a := range cols {
		for b := 0; b < a; b++ {
			ata[a*cols+b] = ata[b*cols+a]
		}
		if a > 0 {
			ata[a*cols+a] += p.Ridge * float64(n)
		}
	}
	// A tiny jitter keeps the factorisation defined when ridge is 0 and
	// regressors are collinear.
	for a := range cols {
		ata[a*cols+a] += 1e-10 * float64(n)
	}
	if err := cholesky(ata, cols); err != nil {
		return nil, fmt.Errorf("failed to fit prophet: %w", err)
	}
	m.Coef = make([][]float64, targets)
	rhs := make([]float64, cols)
	for o := range targets {
		for a := range cols {
			rhs[a] = atb[a*targets+o]
		}
		cholSolve(ata, cols, rhs)
		m.Coef[o] = append([]float64(nil), rhs...)
	}
	m.Phi = make([]float64, targets)
	if p.ARCorrection {
		num, den := make([]float64, targets), make([]float64, targets)
		prev := make([]float64, targets)
		pred := make([]float64, targets)
		for i, t := range times {
			m.base(t, row, pred)
			for o := range targets {
				e := y[i][o] - pred[o]
				if i > 0 && t.Sub(times[i-1]) == step {
					num[o] += e * prev[o]
					den[o] += prev[o] * prev[o]
				}
				prev[o] = e
			}
		}
		for o := range targets {
			if den[o] > 0 {
				m.Phi[o] = min(0.99, max(0, num[o]/den[o]))
			}
		}
	}
	return m, nil
}

// base writes the trend + seasonality of each target at t into dst, using row as scratch.
func (m *Model) base(t time.Time, row, dst []float64) {
	m.design(t, row)
	for o, coef := range m.Coef {
		s := 0.0
		for a, c := range coef {
			s += c * row[a]
		}
		dst[o] = s
	}
}

// At writes the trend + seasonality forecast of each target at t into dst.
func (m *Model) At(t time.Time, dst []float64) {
	m.base(t, make([]float64, m.Columns()), dst)
}

// PredictStep implements model.Stepper: the forecast at next, corrected
// by phi^k times the residual of the window's last row (k steps earlier).
func (m *Model) PredictStep(window [][]float64, last, next time.Time, dst []float64) error {
	if len(dst) != len(m.Coef) {
		return fmt.Errorf("failed to predict: output has room for %d targets, want %d", len(dst), len(m.Coef))
	}
	if len(window) == 0 || len(window[len(window)-1]) < len(m.Coef) {
		return fmt.Errorf("failed to predict: window is empty or its rows have fewer than %d values", len(m.Coef))
	}
	row := make([]float64, m.Columns())
	lastBase := make([]float64, len(m.Coef))
	m.base(last, row, lastBase)
	m.base(next, row, dst)
	k := math.Max(1, math.Round(next.Sub(last).Seconds()/float64(max(1, m.StepSeconds))))
	obs := window[len(window)-1]
	for o := range dst {
		if m.Phi[o] > 0 {
			dst[o] += math.Pow(m.Phi[o], k) * (obs[o] - lastBase[o])
		}
	}
	return nil
}

// Validate checks the model's shape and that its numbers are finite.
func (m *Model) Validate() error {
	if !(m.SpanDays > 0) || math.IsInf(m.SpanDays, 0) || m.StepSeconds < 1 {
		return fmt.Errorf("invalid prophet model: span_days %g, step_seconds %d", m.SpanDays, m.StepSeconds)
	}
	if m.DailyOrder < 0 || m.DailyOrder > 50 || m.WeeklyOrder < 0 || m.WeeklyOrder > 50 || len(m.Changepoints) > 100 {
		return fmt.Errorf("invalid prophet model: orders %d/%d, %d changepoints", m.DailyOrder, m.WeeklyOrder, len(m.Changepoints))
	}
	if len(m.Coef) == 0 || len(m.Phi) != len(m.Coef) {
		return fmt.Errorf("invalid prophet model: %d coefficient rows, %d phi", len(m.Coef), len(m.Phi))
	}
	nums := append([]float64{}, m.Changepoints...)
	nums = append(nums, m.Phi...)
	for o, c := range m.Coef {
		if len(c) != m.Columns() {
			return fmt.Errorf("invalid prophet model: target %d has %d coefficients, want %d", o, len(c), m.Columns())
		}
		nums = append(nums, c...)
	}
	for _, v := range nums {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("invalid prophet model: a parameter is not finite")
		}
	}
	return nil
}

// Unmarshal decodes and validates a model written with json.Marshal.
func Unmarshal(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("failed to decode prophet model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// cholesky factors the symmetric positive-definite n x n matrix a
// (row-major) in place into its lower triangle L (a = L·Lᵀ).
func cholesky(a []float64, n int) error {
	for j := range n {
		s := a[j*n+j]
		for k := range j {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return fmt.Errorf("normal equations are not positive definite (pivot %d = %g)", j, s)
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return nil
}

// cholSolve solves L·Lᵀ·x = b in place, L from cholesky.
func cholSolve(l []float64, n int, b []float64) {
	for i := range n {
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}
