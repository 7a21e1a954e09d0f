package preprocess

import (
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
)

// maxGridRows bounds the re-gridded length so a file with a wild
// timestamp cannot make Run allocate without limit.
const maxGridRows = 5_000_000

// Split selects the windows of one part of the data.
type Split int

const (
	// Train windows have their inputs and target in the training part.
	Train Split = iota
	// Test windows have their target in the test part (inputs may reach back into training rows).
	Test
)

func (s Split) String() string {
	if s == Train {
		return "train"
	}
	return "test"
}

// Stats describes what preprocessing did.
type Stats struct {
	InputRows    int `json:"input_rows"`    // rows in the raw frame
	GridRows     int `json:"grid_rows"`     // rows after re-gridding
	GapRows      int `json:"gap_rows"`      // grid rows absent from the input
	Duplicates   int `json:"duplicates"`    // input rows that fell on an already filled slot (later one kept)
	ImputedCells int `json:"imputed_cells"` // KPI cells filled by KNN
	TrainWindows int `json:"train_windows"`
	TestWindows  int `json:"test_windows"`
}

// Processed is a preprocessed data version: the scaled series on a
// regular grid and the index where the test part starts.
type Processed struct {
	Config      Config      `json:"config"`
	ConfigHash  string      `json:"config_hash"`
	Targets     []string    `json:"targets"`
	Features    []string    `json:"features"`
	Start       time.Time   `json:"start"` // time of row 0
	StepSeconds int         `json:"step_seconds"`
	Split       int         `json:"split"` // first row of the test part
	Scaler      Scaler      `json:"scaler"`
	Stats       Stats       `json:"stats"`
	Series      [][]float64 `json:"series"` // rows x 17, scaled
}

// Run preprocesses a raw frame.
func Run(f dataset.Frame, cfg Config) (*Processed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("failed to preprocess: bad config: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("failed to preprocess: bad frame: %w", err)
	}
	if len(f.Times) == 0 {
		return nil, fmt.Errorf("failed to preprocess: the frame has no rows")
	}
	step := time.Duration(cfg.StepSeconds) * time.Second
	start := f.Times[0].UTC()
	span := f.Times[len(f.Times)-1].Sub(start)
	n64 := int64(math.Round(float64(span)/float64(step))) + 1
	if n64 > maxGridRows {
		return nil, fmt.Errorf("failed to preprocess: the data spans %s, %d grid rows (limit %d)", span, n64, maxGridRows)
	}
	n := int(n64)
	st := Stats{InputRows: len(f.Times), GridRows: n}

	// Re-grid: each row snaps to its nearest slot; empty slots are all-NaN.
	raw := make([][]float64, n)
	for i, t := range f.Times {
		slot := int(math.Round(float64(t.Sub(start)) / float64(step)))
		if raw[slot] != nil {
			st.Duplicates++
		}
		raw[slot] = append([]float64(nil), f.Values[i]...)
	}
	for i := range raw {
		if raw[i] == nil {
			st.GapRows++
			raw[i] = make([]float64, dataset.NumKPIs)
			for j := range raw[i] {
				raw[i][j] = math.NaN()
			}
		}
	}
	split := int(float64(n) * cfg.TrainFraction)
	minRows := cfg.Window + cfg.Horizon
	if split < minRows || n-split < 1 {
		return nil, fmt.Errorf("failed to preprocess: %d grid rows split at %d leave too few rows for a window of %d+%d",
			n, split, cfg.Window, cfg.Horizon)
	}
	timeFeats := make([][NumTimeFeatures]float64, n)
	for i := range timeFeats {
		TimeFeatures(start.Add(time.Duration(i)*step), timeFeats[i][:])
	}
	filled, err := imputeKNN(raw, timeFeats, split, cfg.ImputeK)
	if err != nil {
		return nil, fmt.Errorf("failed to preprocess: %w", err)
	}
	st.ImputedCells = filled

	// Fit the scaler on the training rows only: test rows may fall outside [0, 1].
	sc := Scaler{Min: make([]float64, NumFeatures), Max: make([]float64, NumFeatures)}
	for j := range sc.Min {
		sc.Min[j], sc.Max[j] = math.Inf(1), math.Inf(-1)
	}
	for i := 0; i < split; i++ {
		for j := 0; j < NumFeatures; j++ {
			v := featureValue(raw[i], &timeFeats[i], j)
			sc.Min[j] = math.Min(sc.Min[j], v)
			sc.Max[j] = math.Max(sc.Max[j], v)
		}
	}
	flat := make([]float64, n*NumFeatures)
	series := make([][]float64, n)
	for i := range series {
		row := flat[i*NumFeatures : (i+1)*NumFeatures : (i+1)*NumFeatures]
		for j := range row {
			row[j] = sc.Scale(j, featureValue(raw[i], &timeFeats[i], j))
		}
		series[i] = row
	}
	p := &Processed{
		Config:      cfg,
		ConfigHash:  cfg.Hash(),
		Targets:     dataset.KPIs(),
		Features:    FeatureNames(),
		Start:       start,
		StepSeconds: cfg.StepSeconds,
		Split:       split,
		Scaler:      sc,
		Series:      series,
	}
	st.TrainWindows = p.NumWindows(Train)
	st.TestWindows = p.NumWindows(Test)
	p.Stats = st
	return p, nil
}

func featureValue(kpis []float64, tf *[NumTimeFeatures]float64, j int) float64 {
	if j < dataset.NumKPIs {
		return kpis[j]
	}
	return tf[j-dataset.NumKPIs]
}

// Step returns the grid period.
func (p *Processed) Step() time.Duration { return time.Duration(p.StepSeconds) * time.Second }

// TimeAt returns the time of series row i.
func (p *Processed) TimeAt(i int) time.Time { return p.Start.Add(time.Duration(i) * p.Step()) }

// NumWindows returns how many windows a split holds.
func (p *Processed) NumWindows(s Split) int {
	w, h := p.Config.Window, p.Config.Horizon
	if s == Train {
		return max(0, p.Split-w-h+1)
	}
	// Test targets are rows Split..n-1; the first needs Split-w-h+1 >= 0.
	return max(0, len(p.Series)-max(p.Split, w+h-1))
}

// WindowStart returns the series row where window i of split s begins.
func (p *Processed) WindowStart(s Split, i int) int {
	if s == Train {
		return i
	}
	w, h := p.Config.Window, p.Config.Horizon
	return max(p.Split, w+h-1) - w - h + 1 + i
}

// Window returns window i of split s: x (Window rows x 17, views into the
// series, not to be modified) and y (the 11 scaled targets Horizon steps
// after the window). It panics on an index out of range, like a slice.
func (p *Processed) Window(s Split, i int) (x [][]float64, y []float64) {
	if i < 0 || i >= p.NumWindows(s) {
		panic(fmt.Sprintf("preprocess: %s window %d out of range [0, %d)", s, i, p.NumWindows(s)))
	}
	start := p.WindowStart(s, i)
	end := start + p.Config.Window
	return p.Series[start:end:end], p.Series[end-1+p.Config.Horizon][:dataset.NumKPIs:dataset.NumKPIs]
}

// Windows iterates over the windows of a split in time order.
func (p *Processed) Windows(s Split) iter.Seq2[[][]float64, []float64] {
	return func(yield func([][]float64, []float64) bool) {
		for i := range p.NumWindows(s) {
			if !yield(p.Window(s, i)) {
				return
			}
		}
	}
}

// TargetTime returns the time of the target of window i of split s.
func (p *Processed) TargetTime(s Split, i int) time.Time {
	return p.TimeAt(p.WindowStart(s, i) + p.Config.Window - 1 + p.Config.Horizon)
}
