package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flts/flts-e2e/pkg/forecast"
	"github.com/flts/flts-e2e/pkg/model"
)

// LoadForecast is the Loader of pkg/forecast artifacts.
func LoadForecast(artifact []byte) (Predictor, error) {
	var a model.Artifact
	if err := json.Unmarshal(artifact, &a); err != nil {
		return nil, fmt.Errorf("failed to decode model artifact: %w", err)
	}
	p, err := forecast.NewPredictor(a)
	if err != nil {
		return nil, err
	}
	return &forecastPredictor{p: p, targets: a.Targets}, nil
}

// forecastPredictor adapts *forecast.Predictor, translating its error
// kinds to this package's.
type forecastPredictor struct {
	p       *forecast.Predictor
	targets []string
}

func (f *forecastPredictor) RunID() string     { return f.p.RunID() }
func (f *forecastPredictor) ModelType() string { return f.p.ModelType() }
func (f *forecastPredictor) Targets() []string { return f.targets }

func (f *forecastPredictor) PredictLatest(steps int) ([]Point, error) {
	pts, err := f.p.PredictLatest(steps)
	return convert(pts, err)
}

func (f *forecastPredictor) PredictFrom(times []time.Time, kpis map[string][]float64, steps int) ([]Point, error) {
	pts, err := f.p.PredictFrom(times, kpis, steps)
	return convert(pts, err)
}

func convert(pts []forecast.Point, err error) ([]Point, error) {
	switch {
	case errors.Is(err, forecast.ErrBadInput):
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	case errors.Is(err, forecast.ErrStepsOutOfRange):
		return nil, &apiError{code: http.StatusUnprocessableEntity, msg: err.Error()}
	case err != nil:
		return nil, err
	}
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = Point{Time: p.Time, Values: p.Values}
	}
	return out, nil
}
