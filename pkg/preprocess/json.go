package preprocess

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/flts/flts-e2e/pkg/dataset"
)

// processedJSON has Processed's fields without its methods, so
// UnmarshalJSON can decode into it without recursing.
type processedJSON Processed

// UnmarshalJSON decodes and validates a Processed.
func (p *Processed) UnmarshalJSON(b []byte) error {
	var v processedJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	q := Processed(v)
	if err := q.Validate(); err != nil {
		return fmt.Errorf("invalid processed data: %w", err)
	}
	*p = q
	return nil
}

// Validate checks a Processed is internally consistent.
func (p *Processed) Validate() error {
	if err := p.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if p.ConfigHash != p.Config.Hash() {
		return fmt.Errorf("config_hash %q does not match the config (%s)", p.ConfigHash, p.Config.Hash())
	}
	if p.StepSeconds != p.Config.StepSeconds {
		return fmt.Errorf("step_seconds %d differs from the config's %d", p.StepSeconds, p.Config.StepSeconds)
	}
	if !slices.Equal(p.Targets, dataset.KPIs()) {
		return fmt.Errorf("targets %v are not the 11 KPIs", p.Targets)
	}
	if !slices.Equal(p.Features, FeatureNames()) {
		return fmt.Errorf("features %v are not the 17 features", p.Features)
	}
	if err := p.Scaler.Validate(); err != nil {
		return err
	}
	n := len(p.Series)
	w, h := p.Config.Window, p.Config.Horizon
	if p.Split < w+h || p.Split >= n {
		return fmt.Errorf("split %d out of range for %d rows and window %d+%d", p.Split, n, w, h)
	}
	for i, row := range p.Series {
		if len(row) != NumFeatures {
			return fmt.Errorf("series row %d has %d values, want %d", i, len(row), NumFeatures)
		}
		for j, v := range row {
			if !finite(v) {
				return fmt.Errorf("series row %d feature %q is not finite", i, p.Features[j])
			}
		}
	}
	return nil
}

// Encode writes p as JSON.
func (p *Processed) Encode(w io.Writer) error {
	if err := json.NewEncoder(w).Encode(p); err != nil {
		return fmt.Errorf("failed to encode processed data: %w", err)
	}
	return nil
}

// Decode reads and validates a Processed written by Encode.
func Decode(r io.Reader) (*Processed, error) {
	var p Processed
	if err := json.NewDecoder(r).Decode(&p); err != nil {
		return nil, fmt.Errorf("failed to decode processed data: %w", err)
	}
	return &p, nil
}

// Shape describes the window tensors of one split, as the original reported them.
type Shape struct {
	X [3]int `json:"x"` // windows, window, features
	Y [3]int `json:"y"` // windows, 1, targets
}

// Meta is everything of a Processed except the series rows: what
// processed-data/<hash>/meta.json holds.
type Meta struct {
	Config      Config           `json:"config"`
	ConfigHash  string           `json:"config_hash"`
	Targets     []string         `json:"targets"`
	Features    []string         `json:"features"`
	Start       string           `json:"start"`
	StepSeconds int              `json:"step_seconds"`
	Split       int              `json:"split"`
	Scaler      Scaler           `json:"scaler"`
	Stats       Stats            `json:"stats"`
	Shapes      map[string]Shape `json:"shapes"`
}

// Part is the series rows of one split: what train.json / test.json hold.
type Part struct {
	ConfigHash string      `json:"config_hash"`
	Split      string      `json:"split"`
	FirstRow   int         `json:"first_row"`
	Rows       [][]float64 `json:"rows"`
}

// Shapes returns the window tensor shapes of both splits.
func (p *Processed) Shapes() map[string]Shape {
	out := map[string]Shape{}
	for _, s := range []Split{Train, Test} {
		n := p.NumWindows(s)
		out[s.String()] = Shape{X: [3]int{n, p.Config.Window, NumFeatures}, Y: [3]int{n, 1, dataset.NumKPIs}}
	}
	return out
}

// WriteParts writes the three stored objects: train rows, test rows and meta.
func (p *Processed) WriteParts(train, test, meta io.Writer) error {
	m := Meta{
		Config: p.Config, ConfigHash: p.ConfigHash, Targets: p.Targets, Features: p.Features,
		Start: p.Start.Format("2006-01-02T15:04:05.999999999Z07:00"), StepSeconds: p.StepSeconds,
		Split: p.Split, Scaler: p.Scaler, Stats: p.Stats, Shapes: p.Shapes(),
	}
	parts := []struct {
		w io.Writer
		v any
	}{
		{train, Part{ConfigHash: p.ConfigHash, Split: "train", FirstRow: 0, Rows: p.Series[:p.Split]}},
		{test, Part{ConfigHash: p.ConfigHash, Split: "test", FirstRow: p.Split, Rows: p.Series[p.Split:]}},
		{meta, m},
	}
	for _, part := range parts {
		if err := json.NewEncoder(part.w).Encode(part.v); err != nil {
			return fmt.Errorf("failed to encode processed data part: %w", err)
		}
	}
	return nil
}

// ReadParts reassembles and validates a Processed from the objects WriteParts wrote.
func ReadParts(train, test, meta io.Reader) (*Processed, error) {
	var m Meta
	var tr, te Part
	for _, part := range []struct {
		name string
		r    io.Reader
		v    any
	}{{"meta", meta, &m}, {"train", train, &tr}, {"test", test, &te}} {
		if err := json.NewDecoder(part.r).Decode(part.v); err != nil {
			return nil, fmt.Errorf("failed to decode processed %s part: %w", part.name, err)
		}
	}
	if tr.ConfigHash != m.ConfigHash || te.ConfigHash != m.ConfigHash {
		return nil, fmt.Errorf("processed parts belong to different data versions: meta %s, train %s, test %s",
			m.ConfigHash, tr.ConfigHash, te.ConfigHash)
	}
	if tr.FirstRow != 0 || te.FirstRow != m.Split || len(tr.Rows) != m.Split {
		return nil, fmt.Errorf("processed parts do not line up: train rows %d from %d, test from %d, split %d",
			len(tr.Rows), tr.FirstRow, te.FirstRow, m.Split)
	}
	start, err := dataset.ParseTime(m.Start)
	if err != nil {
		return nil, fmt.Errorf("invalid processed meta start: %w", err)
	}
	p := &Processed{
		Config: m.Config, ConfigHash: m.ConfigHash, Targets: m.Targets, Features: m.Features,
		Start: start, StepSeconds: m.StepSeconds, Split: m.Split, Scaler: m.Scaler, Stats: m.Stats,
		Series: append(tr.Rows, te.Rows...),
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid processed data: %w", err)
	}
	return p, nil
}
