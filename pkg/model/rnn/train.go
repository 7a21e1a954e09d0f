package rnn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Data is a set of training windows: x is rows x In features, y the Out targets.
type Data interface {
	Len() int
	Window(i int) (x [][]float64, y []float64)
}

// Params are the training hyper-parameters.
type Params struct {
	Hidden          int     // recurrent units
	Epochs          int     // maximum passes over the training windows
	LearningRate    float64 // Adam step size
	BatchSize       int     // windows per gradient step
	Patience        int     // epochs without validation improvement before stopping
	Clip            float64 // maximum global gradient norm
	ValFraction     float64 // last share of the windows held out for early stopping
	MaxTrainWindows int     // windows sampled per epoch (0: all); bounds training time
	Seed            uint64
}

// DefaultParams returns settings that train a default-size data set in
// well under a minute on one core.
func DefaultParams() Params {
	return Params{Hidden: 32, Epochs: 12, LearningRate: 0.003, BatchSize: 32, Patience: 3, Clip: 1,
		ValFraction: 0.1, MaxTrainWindows: 6000, Seed: 1}
}

// Validate reports the first out-of-range parameter.
func (p Params) Validate() error {
	switch {
	case p.Hidden < 1 || p.Hidden > 1024:
		return fmt.Errorf("hidden must be in [1, 1024], got %d", p.Hidden)
	case p.Epochs < 1 || p.Epochs > 10000:
		return fmt.Errorf("epochs must be in [1, 10000], got %d", p.Epochs)
	case !(p.LearningRate > 0 && p.LearningRate <= 1):
		return fmt.Errorf("learning_rate must be in (0, 1], got %g", p.LearningRate)
	case p.BatchSize < 1 || p.BatchSize > 100000:
		return fmt.Errorf("batch_size must be in [1, 100000], got %d", p.BatchSize)
	case p.Patience < 1:
		return fmt.Errorf("patience must be at least 1, got %d", p.Patience)
	case !(p.Clip > 0) || math.IsInf(p.Clip, 0):
		return fmt.Errorf("clip must be a positive number, got %g", p.Clip)
	case !(p.ValFraction > 0 && p.ValFraction < 0.5):
		return fmt.Errorf("val_fraction must be in (0, 0.5), got %g", p.ValFraction)
	case p.MaxTrainWindows < 0:
		return fmt.Errorf("max_train_windows must not be negative, got %d", p.MaxTrainWindows)
	}
	return nil
}

// Progress receives the mean training and validation MSE after each epoch.
type Progress func(epoch int, trainLoss, valLoss float64)

// Report summarises a training run.
type Report struct {
	Epochs    int     // epochs run
	BestEpoch int     // epoch whose weights were kept
	BestVal   float64 // its validation MSE
}

// New returns an untrained model with seeded random weights.
func New(cell Cell, in, hidden, out int, seed uint64) (*Model, error) {
	l, err := newLayout(cell, in, hidden, out)
	if err != nil {
		return nil, fmt.Errorf("failed to create %s model: %w", cell, err)
	}
	m := &Model{Cell: cell, In: in, Hidden: hidden, Out: out, Theta: make([]float64, l.length)}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	bound := 1 / math.Sqrt(float64(hidden))
	for i := l.wx; i < l.b; i++ {
		m.Theta[i] = (2*rng.Float64() - 1) * bound
	}
	if cell == LSTM {
		// A forget-gate bias of 1 keeps early gradients flowing through the cell.
		for k := range hidden {
			m.Theta[l.b+hidden+k] = 1
		}
	}
	// Small output weights: the residual connection starts as persistence.
	for i := l.wo; i < l.bo; i++ {
		m.Theta[i] = (2*rng.Float64() - 1) * bound * 0.1
	}
	m.initPool()
	return m, nil
}

// Train fits a new model on data. The last ValFraction of the windows
// (chronologically) is the validation split; the weights of the best
// validation epoch are returned. ctx is checked between batches.
func Train(ctx context.Context, cell Cell, data Data, p Params, progress Progress) (*Model, Report, error) {
	if err := p.Validate(); err != nil {
		return nil, Report{}, fmt.Errorf("failed to train %s: bad params: %w", cell, err)
	}
	n := data.Len()
	nVal := int(math.Ceil(float64(n) * p.ValFraction))
	nTrain := n - nVal
	if nTrain < 1 || nVal < 1 {
		return nil, Report{}, fmt.Errorf("failed to train %s: %d windows are too few to hold out a validation split", cell, n)
	}
	x0, y0 := data.Window(0)
	if len(x0) == 0 {
		return nil, Report{}, fmt.Errorf("failed to train %s: empty window", cell)
	}
	m, err := New(cell, len(x0[0]), p.Hidden, len(y0), p.Seed)
	if err != nil {
		return nil, Report{}, fmt.Errorf("failed to train: %w", err)
	}
	l := m.layout()
	grad := make([]float64, l.length)
	mom := make([]float64, l.length)
	vel := make([]float64, l.length)
	best := slices.Clone(m.Theta)
	ws := m.newWorkspace(len(x0))
	rng := rand.New(rand.NewPCG(p.Seed, 0xba7c4))
	order := make([]int, nTrain)
	for i := range order {
		order[i] = i
	}
	perEpoch := nTrain
	if p.MaxTrainWindows > 0 && p.MaxTrainWindows < nTrain {
		perEpoch = p.MaxTrainWindows
	}
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	step := 0
	rep := Report{BestVal: math.Inf(1)}
	scale := 1 / float64(m.Out)
	for epoch := 1; epoch <= p.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, rep, fmt.Errorf("failed to train %s: stopped before epoch %d: %w", cell, epoch, err)
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		trainLoss := 0.0
		for bstart := 0; bstart < perEpoch; bstart += p.BatchSize {
			if (bstart/p.BatchSize)%64 == 63 && ctx.Err() != nil {
				return nil, rep, fmt.Errorf("failed to train %s: stopped in epoch %d: %w", cell, epoch, ctx.Err())
			}
			batch := order[bstart:min(bstart+p.BatchSize, perEpoch)]
			clear(grad)
			bscale := 2 * scale / float64(len(batch))
			for _, idx := range batch {
				x, y := data.Window(idx)
				if len(x[0]) != m.In || len(y) != m.Out {
					return nil, rep, fmt.Errorf("failed to train %s: window %d has %d features and %d targets, want %d and %d",
						cell, idx, len(x[0]), len(y), m.In, m.Out)
				}
				m.forward(x, ws)
				for o := range m.Out {
					d := ws.y[o] - y[o]
					trainLoss += d * d * scale
					ws.dy[o] = d * bscale
				}
				m.backward(x, ws, grad)
			}
			norm := 0.0
			for _, g := range grad {
				norm += g * g
			}
			norm = math.Sqrt(norm)
			if math.IsNaN(norm) {
				return nil, rep, fmt.Errorf("failed to train %s: gradient became NaN in epoch %d", cell, epoch)
			}
			gscale := 1.0
			if norm > p.Clip {
				gscale = p.Clip / norm
			}
			step++
			c1 := 1 - math.Pow(beta1, float64(step))
			c2 := 1 - math.Pow(beta2, float64(step))
			lr := p.LearningRate * math.Sqrt(c2) / c1
			for i, g := range grad {
				g *= gscale
				mom[i] = beta1*mom[i] + (1-beta1)*g
				vel[i] = beta2*vel[i] + (1-beta2)*g*g
				m.Theta[i] -= lr * mom[i] / (math.Sqrt(vel[i]) + eps)
			}
		}
		trainLoss /= float64(perEpoch)
		valLoss := 0.0
		for i := nTrain; i < n; i++ {
			x, y := data.Window(i)
			m.forward(x, ws)
			for o := range m.Out {
				d := ws.y[o] - y[o]
				valLoss += d * d * scale
			}
		}
		valLoss /= float64(nVal)
		rep.Epochs = epoch
		if progress != nil {
			progress(epoch, trainLoss, valLoss)
		}
		if valLoss < rep.BestVal {
			rep.BestVal, rep.BestEpoch = valLoss, epoch
			copy(best, m.Theta)
		} else if epoch-rep.BestEpoch >= p.Patience {
			break
		}
	}
	copy(m.Theta, best)
	return m, rep, nil
}
