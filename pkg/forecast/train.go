package forecast

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/model/persistence"
	"github.com/flts/flts-e2e/pkg/model/prophet"
	"github.com/flts/flts-e2e/pkg/model/rnn"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
)

// TrainInput is what Train needs.
type TrainInput struct {
	ModelType string                                      // model.TypeGRU, model.TypeLSTM or model.TypeProphet
	Data      *preprocess.Processed                       // the data version
	Params    map[string]string                           // model hyper-parameters; unknown keys are an error
	Seed      int64                                       // same seed, same data: same model
	RunID     string                                      // copied into the artifact (optional; may be set later)
	Progress  func(epoch int, trainLoss, valLoss float64) // after each epoch (GRU/LSTM; PROPHET reports one "epoch")
}

// TrainResult is a trained model and its scores on the held-out test split.
type TrainResult struct {
	Artifact       model.Artifact
	Test           score.Metrics            // scaled, averaged over the 11 KPIs
	Baseline       score.Metrics            // persistence on the same test windows
	PerKPI         map[string]score.Metrics // original units
	BaselinePerKPI map[string]score.Metrics // original units
	Duration       time.Duration            // fitting time (scoring excluded)
}

// processedWindows adapts the training windows of a Processed to rnn.Data.
type processedWindows struct{ p *preprocess.Processed }

func (w processedWindows) Len() int { return w.p.NumWindows(preprocess.Train) }
func (w processedWindows) Window(i int) ([][]float64, []float64) {
	return w.p.Window(preprocess.Train, i)
}

// Train fits a model and scores it on the test split, which it never
// trains on. ctx cancellation is honoured between epochs.
func Train(ctx context.Context, in TrainInput) (TrainResult, error) {
	p := in.Data
	if p == nil {
		return TrainResult{}, fmt.Errorf("failed to train %s: no processed data", in.ModelType)
	}
	if err := p.Validate(); err != nil {
		return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
	}
	if p.Config.Horizon != 1 {
		return TrainResult{}, fmt.Errorf("failed to train %s: horizon %d not supported (recursive forecasting needs 1)", in.ModelType, p.Config.Horizon)
	}
	if p.NumWindows(preprocess.Test) == 0 {
		return TrainResult{}, fmt.Errorf("failed to train %s: the data has no test windows", in.ModelType)
	}
	started := time.Now()
	var (
		stepper model.Stepper
		weights any
		params  map[string]string
	)
	switch in.ModelType {
	case model.TypeGRU, model.TypeLSTM:
		rp, used, err := rnnParams(in.Params, in.Seed)
		if err != nil {
			return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
		}
		m, _, err := rnn.Train(ctx, rnn.Cell(in.ModelType), processedWindows{p}, rp, rnn.Progress(in.Progress))
		if err != nil {
			return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
		}
		stepper, weights, params = m, m, used
	case model.TypeProphet:
		pp, used, err := prophetParams(in.Params)
		if err != nil {
			return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
		}
		if err := ctx.Err(); err != nil {
			return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
		}
		times := make([]time.Time, p.Split)
		y := make([][]float64, p.Split)
		for i := range p.Split {
			times[i] = p.TimeAt(i)
			y[i] = p.Series[i][:dataset.NumKPIs]
		}
		m, err := prophet.Fit(times, y, p.Step(), pp)
		if err != nil {
			return TrainResult{}, fmt.Errorf("failed to train %s: %w", in.ModelType, err)
		}
		if in.Progress != nil {
			mse := trainMSE(p, m)
			in.Progress(1, mse, mse)
		}
		stepper, weights, params = m, m, used
	default:
		return TrainResult{}, fmt.Errorf("failed to train: unknown model type %q (want %s, %s or %s)",
			in.ModelType, model.TypeGRU, model.TypeLSTM, model.TypeProphet)
	}
	dur := time.Since(started)
	params["seed"] = strconv.FormatInt(in.Seed, 10)

	res, err := evaluate(p, stepper)
	if err != nil {
		return TrainResult{}, fmt.Errorf("failed to score %s: %w", in.ModelType, err)
	}
	res.Duration = dur
	wjson, err := json.Marshal(weights)
	if err != nil {
		return TrainResult{}, fmt.Errorf("failed to encode %s weights: %w", in.ModelType, err)
	}
	n := len(p.Series)
	w := p.Config.Window
	last := make([][]float64, w)
	for i := range last {
		last[i] = append([]float64(nil), p.Series[n-w+i]...)
	}
	res.Artifact = model.Artifact{
		ModelType:   in.ModelType,
		RunID:       in.RunID,
		ConfigHash:  p.ConfigHash,
		Targets:     dataset.KPIs(),
		Features:    preprocess.FeatureNames(),
		Window:      w,
		ScalerMin:   append([]float64(nil), p.Scaler.Min...),
		ScalerMax:   append([]float64(nil), p.Scaler.Max...),
		LastWindow:  last,
		LastTime:    p.TimeAt(n - 1).Format(time.RFC3339),
		StepSeconds: p.StepSeconds,
		Params:      params,
		Weights:     wjson,
		Metrics: map[string]float64{
			"rmse": res.Test.RMSE, "mae": res.Test.MAE, "mse": res.Test.MSE,
			"baseline_rmse": res.Baseline.RMSE, "baseline_mae": res.Baseline.MAE, "baseline_mse": res.Baseline.MSE,
			"train_seconds": dur.Seconds(),
		},
	}
	return res, nil
}

func trainMSE(p *preprocess.Processed, m *prophet.Model) float64 {
	acc := score.NewAccumulator(dataset.NumKPIs)
	out := make([]float64, dataset.NumKPIs)
	for i := range p.Split {
		m.At(p.TimeAt(i), out)
		_ = acc.Add(out, p.Series[i][:dataset.NumKPIs])
	}
	return acc.Mean().MSE
}

// evaluate scores stepper and persistence on every test window, scaled and in original units.
func evaluate(p *preprocess.Processed, stepper model.Stepper) (TrainResult, error) {
	const nk = dataset.NumKPIs
	accM, accB := score.NewAccumulator(nk), score.NewAccumulator(nk)
	origM, origB := score.NewAccumulator(nk), score.NewAccumulator(nk)
	base := persistence.Model{Targets: nk}
	pred, bpred := make([]float64, nk), make([]float64, nk)
	uPred, uBase, uY := make([]float64, nk), make([]float64, nk), make([]float64, nk)
	w := p.Config.Window
	for i := range p.NumWindows(preprocess.Test) {
		x, y := p.Window(preprocess.Test, i)
		start := p.WindowStart(preprocess.Test, i)
		last, next := p.TimeAt(start+w-1), p.TargetTime(preprocess.Test, i)
		if err := stepper.PredictStep(x, last, next, pred); err != nil {
			return TrainResult{}, err
		}
		_ = base.PredictStep(x, last, next, bpred)
		_ = accM.Add(pred, y)
		_ = accB.Add(bpred, y)
		for k := range nk {
			uPred[k] = p.Scaler.Unscale(k, pred[k])
			uBase[k] = p.Scaler.Unscale(k, bpred[k])
			uY[k] = p.Scaler.Unscale(k, y[k])
		}
		_ = origM.Add(uPred, uY)
		_ = origB.Add(uBase, uY)
	}
	res := TrainResult{Test: accM.Mean(), Baseline: accB.Mean(),
		PerKPI: map[string]score.Metrics{}, BaselinePerKPI: map[string]score.Metrics{}}
	names := dataset.KPIs()
	for k, m := range origM.PerColumn() {
		res.PerKPI[names[k]] = m
	}
	for k, m := range origB.PerColumn() {
		res.BaselinePerKPI[names[k]] = m
	}
	return res, nil
}
