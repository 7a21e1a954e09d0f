package rnn

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"
)

// Cell names a recurrent cell type.
type Cell string

// The supported cells.
const (
	GRU  Cell = "GRU"
	LSTM Cell = "LSTM"
)

func (c Cell) gates() (int, error) {
	switch c {
	case GRU:
		return 3, nil
	case LSTM:
		return 4, nil
	}
	return 0, fmt.Errorf("unknown recurrent cell %q (want GRU or LSTM)", c)
}

// maxDim bounds each dimension so a corrupt artifact cannot make Load allocate without limit.
const maxDim = 4096

// Model is a trained recurrent network. Theta holds every parameter in one
// vector (see layout) so the optimiser and the gradient check treat them alike.
// Predictions are safe for concurrent use.
type Model struct {
	Cell   Cell      `json:"cell"`
	In     int       `json:"in"`     // features per input row
	Hidden int       `json:"hidden"` // recurrent units
	Out    int       `json:"out"`    // targets: the first Out features of a row
	Theta  []float64 `json:"theta"`

	pool *sync.Pool // of *workspace; nil on a zero Model, then each call allocates
}

// layout gives the offsets of each parameter block in Theta.
type layout struct {
	g, gh          int // gates, gates*hidden
	wx, wh, b      int // input weights (gh x In), recurrent weights (gh x H), biases (gh)
	wo, bo, length int // output weights (Out x H), output biases (Out), total
}

func newLayout(cell Cell, in, hidden, out int) (layout, error) {
	g, err := cell.gates()
	if err != nil {
		return layout{}, err
	}
	for name, v := range map[string]int{"in": in, "hidden": hidden, "out": out} {
		if v < 1 || v > maxDim {
			return layout{}, fmt.Errorf("%s dimension %d out of range [1, %d]", name, v, maxDim)
		}
	}
	if out > in {
		return layout{}, fmt.Errorf("%d targets exceed the %d input features", out, in)
	}
	l := layout{g: g, gh: g * hidden}
	l.wx = 0
	l.wh = l.wx + l.gh*in
	l.b = l.wh + l.gh*hidden
	l.wo = l.b + l.gh
	l.bo = l.wo + out*hidden
	l.length = l.bo + out
	return l, nil
}

func (m *Model) layout() layout {
	l, _ := newLayout(m.Cell, m.In, m.Hidden, m.Out)
	return l
}

// Validate checks dimensions and that every parameter is finite.
func (m *Model) Validate() error {
	l, err := newLayout(m.Cell, m.In, m.Hidden, m.Out)
	if err != nil {
		return fmt.Errorf("invalid %s model: %w", m.Cell, err)
	}
	if len(m.Theta) != l.length {
		return fmt.Errorf("invalid %s model: %d parameters, want %d for in=%d hidden=%d out=%d",
			m.Cell, len(m.Theta), l.length, m.In, m.Hidden, m.Out)
	}
	for i, v := range m.Theta {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("invalid %s model: parameter %d is not finite", m.Cell, i)
		}
	}
	return nil
}

// Unmarshal decodes and validates a model written with json.Marshal.
func Unmarshal(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("failed to decode recurrent model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	m.initPool()
	return &m, nil
}

func (m *Model) initPool() {
	m.pool = &sync.Pool{New: func() any { return m.newWorkspace(0) }}
}

// workspace holds the per-sequence activations for BPTT. It grows to the
// longest window seen, so steady-state training does not allocate.
type workspace struct {
	h, c, a, rh, tc [][]float64 // per step: hidden (T+1), cell (T+1), gate activations, r⊙h (GRU), tanh(c) (LSTM)
	dh, dhPrev, dc  []float64
	da, y, dy       []float64
}

func (m *Model) newWorkspace(steps int) *workspace {
	l := m.layout()
	ws := &workspace{
		dh: make([]float64, m.Hidden), dhPrev: make([]float64, m.Hidden), dc: make([]float64, m.Hidden),
		da: make([]float64, l.gh), y: make([]float64, m.Out), dy: make([]float64, m.Out),
	}
	ws.grow(m, steps)
	return ws
}

func (ws *workspace) grow(m *Model, steps int) {
	gh := m.layout().gh
	for len(ws.a) < steps {
		ws.a = append(ws.a, make([]float64, gh))
		ws.rh = append(ws.rh, make([]float64, m.Hidden))
		ws.tc = append(ws.tc, make([]float64, m.Hidden))
	}
	for len(ws.h) < steps+1 {
		ws.h = append(ws.h, make([]float64, m.Hidden))
		ws.c = append(ws.c, make([]float64, m.Hidden))
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// forward runs the network over x (T rows of In) and leaves the output in ws.y.
func (m *Model) forward(x [][]float64, ws *workspace) {
	l := m.layout()
	H, In := m.Hidden, m.In
	th := m.Theta
	T := len(x)
	ws.grow(m, T)
	clear(ws.h[0])
	clear(ws.c[0])
	for t := 0; t < T; t++ {
		hp, a, xt := ws.h[t], ws.a[t], x[t][:In]
		for r := 0; r < l.gh; r++ {
			s := th[l.b+r]
			row := th[l.wx+r*In : l.wx+(r+1)*In]
			for j, v := range xt {
				s += row[j] * v
			}
			a[r] = s
		}
		hn := ws.h[t+1]
		if m.Cell == LSTM {
			for r := 0; r < l.gh; r++ {
				row := th[l.wh+r*H : l.wh+(r+1)*H]
				s := 0.0
				for k, v := range hp {
					s += row[k] * v
				}
				a[r] += s
			}
			cp, cn, tc := ws.c[t], ws.c[t+1], ws.tc[t]
			for k := 0; k < H; k++ {
				i, f := sigmoid(a[k]), sigmoid(a[H+k])
				g, o := math.Tanh(a[2*H+k]), sigmoid(a[3*H+k])
				a[k], a[H+k], a[2*H+k], a[3*H+k] = i, f, g, o
				cn[k] = f*cp[k] + i*g
				tc[k] = math.Tanh(cn[k])
				hn[k] = o * tc[k]
			}
			continue
		}
		// GRU: reset and update gates from h, candidate from r⊙h.
		for r := 0; r < 2*H; r++ {
			row := th[l.wh+r*H : l.wh+(r+1)*H]
			s := 0.0
			for k, v := range hp {
				s += row[k] * v
			}
			a[r] = sigmoid(a[r] + s)
		}
		rh := ws.rh[t]
		for k := 0; k < H; k++ {
			rh[k] = a[k] * hp[k]
		}
		for r := 2 * H; r < 3*H; r++ {
			row := th[l.wh+r*H : l.wh+(r+1)*H]
			s := 0.0
			for k, v := range rh {
				s += row[k] * v
			}
			a[r] = math.Tanh(a[r] + s)
		}
		for k := 0; k < H; k++ {
			z, n := a[H+k], a[2*H+k]
			hn[k] = (1-z)*n + z*hp[k]
		}
	}
	hT, last := ws.h[T], x[T-1]
	for o := 0; o < m.Out; o++ {
		row := th[l.wo+o*H : l.wo+(o+1)*H]
		s := th[l.bo+o] + last[o]
		for k, v := range hT {
			s += row[k] * v
		}
		ws.y[o] = s
	}
}

// backward accumulates into grad the gradient of the loss whose
// derivative with respect to the output is ws.dy, after forward(x, ws).
func (m *Model) backward(x [][]float64, ws *workspace, grad []float64) {
	l := m.layout()
	H, In := m.Hidden, m.In
	th := m.Theta
	T := len(x)
	dh, dhPrev, dc, da := ws.dh, ws.dhPrev, ws.dc, ws.da
	clear(dh)
	clear(dc)
	hT := ws.h[T]
	for o := 0; o < m.Out; o++ {
		d := ws.dy[o]
		grad[l.bo+o] += d
		row := th[l.wo+o*H : l.wo+(o+1)*H]
		grow := grad[l.wo+o*H : l.wo+(o+1)*H]
		for k := range H {
			grow[k] += d * hT[k]
			dh[k] += d * row[k]
		}
	}
	for t := T - 1; t >= 0; t-- {
		hp, a, xt := ws.h[t], ws.a[t], x[t][:In]
		clear(dhPrev)
		if m.Cell == LSTM {
			cp, tc := ws.c[t], ws.tc[t]
			for k := 0; k < H; k++ {
				i, f, g, o := a[k], a[H+k], a[2*H+k], a[3*H+k]
				dct := dc[k] + dh[k]*o*(1-tc[k]*tc[k])
				da[k] = dct * g * i * (1 - i)
				da[H+k] = dct * cp[k] * f * (1 - f)
				da[2*H+k] = dct * i * (1 - g*g)
				da[3*H+k] = dh[k] * tc[k] * o * (1 - o)
				dc[k] = dct * f
			}
			m.accumulateRows(l, grad, da, hp, dhPrev, 0, l.gh)
		} else {
			rh := ws.rh[t]
			for k := 0; k < H; k++ {
				z, n := a[H+k], a[2*H+k]
				da[2*H+k] = dh[k] * (1 - z) * (1 - n*n)
				da[H+k] = dh[k] * (hp[k] - n) * z * (1 - z)
				dhPrev[k] = dh[k] * z
			}
			// Candidate rows see r⊙h: their input gradient is d(r⊙h), kept in dc.
			clear(dc)
			m.accumulateRows(l, grad, da, rh, dc, 2*H, 3*H)
			for k := 0; k < H; k++ {
				r := a[k]
				da[k] = dc[k] * hp[k] * r * (1 - r)
				dhPrev[k] += dc[k] * r
			}
			m.accumulateRows(l, grad, da, hp, dhPrev, 0, 2*H)
		}
		for r := 0; r < l.gh; r++ {
			d := da[r]
			grad[l.b+r] += d
			grow := grad[l.wx+r*In : l.wx+(r+1)*In]
			for j, v := range xt {
				grow[j] += d * v
			}
		}
		dh, dhPrev = dhPrev, dh
	}
	ws.dh, ws.dhPrev = dh, dhPrev
}

// accumulateRows adds da[r]·h to the recurrent-weight gradient of rows
// [from, to) and Wh[from:to]ᵀ·da into dIn.
func (m *Model) accumulateRows(l layout, grad, da, h, dIn []float64, from, to int) {
	H := m.Hidden
	for r := from; r < to; r++ {
		d := da[r]
		if d == 0 {
			continue
		}
		row := m.Theta[l.wh+r*H : l.wh+(r+1)*H]
		grow := grad[l.wh+r*H : l.wh+(r+1)*H]
		for k := range H {
			grow[k] += d * h[k]
			dIn[k] += d * row[k]
		}
	}
}

// Predict writes the next step's targets for window into dst.
func (m *Model) predict(window [][]float64, dst []float64) error {
	if len(window) == 0 {
		return fmt.Errorf("failed to predict: empty window")
	}
	for i, row := range window {
		if len(row) != m.In {
			return fmt.Errorf("failed to predict: window row %d has %d features, want %d", i, len(row), m.In)
		}
	}
	if len(dst) != m.Out {
		return fmt.Errorf("failed to predict: output has room for %d targets, want %d", len(dst), m.Out)
	}
	var ws *workspace
	if m.pool != nil {
		ws = m.pool.Get().(*workspace)
		defer m.pool.Put(ws)
	} else {
		ws = m.newWorkspace(len(window))
	}
	m.forward(window, ws)
	copy(dst, ws.y)
	return nil
}

// PredictStep implements model.Stepper; the window's own time features
// carry the timing, so last and next are not used.
func (m *Model) PredictStep(window [][]float64, _, _ time.Time, dst []float64) error {
	return m.predict(window, dst)
}
