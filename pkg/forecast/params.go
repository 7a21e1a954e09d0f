package forecast

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flts/flts-e2e/pkg/model/prophet"
	"github.com/flts/flts-e2e/pkg/model/rnn"
)

// paramReader takes typed values out of a string map and remembers every
// key it resolved, so unknown keys can be reported and the artifact can
// record the full effective parameter set.
type paramReader struct {
	in   map[string]string
	used map[string]string
	errs []string
}

func newParamReader(in map[string]string) *paramReader {
	return &paramReader{in: in, used: map[string]string{}}
}

func (r *paramReader) int(key string, def int) int {
	v := def
	if s, ok := r.in[key]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("%s=%q is not an integer", key, s))
		}
		v = n
	}
	r.used[key] = strconv.Itoa(v)
	return v
}

func (r *paramReader) float(key string, def float64) float64 {
	v := def
	if s, ok := r.in[key]; ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("%s=%q is not a number", key, s))
		}
		v = f
	}
	r.used[key] = strconv.FormatFloat(v, 'g', -1, 64)
	return v
}

func (r *paramReader) bool(key string, def bool) bool {
	v := def
	if s, ok := r.in[key]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("%s=%q is not a boolean", key, s))
		}
		v = b
	}
	r.used[key] = strconv.FormatBool(v)
	return v
}

// done reports parse errors and unknown keys.
func (r *paramReader) done() error {
	for _, k := range slices.Sorted(maps.Keys(r.in)) {
		if _, ok := r.used[k]; !ok {
			r.errs = append(r.errs, fmt.Sprintf("unknown parameter %q (known: %s)", k,
				strings.Join(slices.Sorted(maps.Keys(r.used)), ", ")))
		}
	}
	if len(r.errs) > 0 {
		return fmt.Errorf("bad params: %s", strings.Join(r.errs, "; "))
	}
	return nil
}

func rnnParams(in map[string]string, seed int64) (rnn.Params, map[string]string, error) {
	d := rnn.DefaultParams()
	r := newParamReader(in)
	p := rnn.Params{
		Hidden:          r.int("hidden", d.Hidden),
		Epochs:          r.int("epochs", d.Epochs),
		LearningRate:    r.float("learning_rate", d.LearningRate),
		BatchSize:       r.int("batch_size", d.BatchSize),
		Patience:        r.int("patience", d.Patience),
		Clip:            r.float("clip", d.Clip),
		ValFraction:     r.float("val_fraction", d.ValFraction),
		MaxTrainWindows: r.int("max_train_windows", d.MaxTrainWindows),
		Seed:            uint64(seed),
	}
	if err := r.done(); err != nil {
		return p, nil, err
	}
	if err := p.Validate(); err != nil {
		return p, nil, fmt.Errorf("bad params: %w", err)
	}
	return p, r.used, nil
}

func prophetParams(in map[string]string) (prophet.Params, map[string]string, error) {
	d := prophet.DefaultParams()
	r := newParamReader(in)
	p := prophet.Params{
		Changepoints:     r.int("changepoints", d.Changepoints),
		ChangepointRange: r.float("changepoint_range", d.ChangepointRange),
		DailyOrder:       r.int("daily_order", d.DailyOrder),
		WeeklyOrder:      r.int("weekly_order", d.WeeklyOrder),
		Ridge:            r.float("ridge", d.Ridge),
		ARCorrection:     r.bool("ar_correction", d.ARCorrection),
	}
	if err := r.done(); err != nil {
		return p, nil, err
	}
	if err := p.Validate(); err != nil {
		return p, nil, fmt.Errorf("bad params: %w", err)
	}
	return p, r.used, nil
}
