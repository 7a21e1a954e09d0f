package pipeline

import (
	"context"
	"time"

	"github.com/flts/flts-e2e/pkg/forecast"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

// ForecastTrainer returns the TrainFunc of pkg/forecast with a fixed seed,
// reporting each epoch's losses through progress.
func ForecastTrainer(seed int64) TrainFunc {
	return func(ctx context.Context, modelType string, data *preprocess.Processed, params map[string]string, progress func(string, ...any)) (TrainOutput, error) {
		start := time.Now()
		res, err := forecast.Train(ctx, forecast.TrainInput{
			ModelType: modelType, Data: data, Params: params, Seed: seed,
			Progress: func(epoch int, trainLoss, valLoss float64) {
				progress("epoch done", "epoch", epoch, "train_loss", trainLoss, "val_loss", valLoss, "elapsed_s", time.Since(start).Seconds())
			},
		})
		if err != nil {
			return TrainOutput{}, err
		}
		perKPI := make(map[string]float64, len(res.PerKPI))
		for k, m := range res.PerKPI {
			perKPI[k] = m.RMSE
		}
		return TrainOutput{Artifact: res.Artifact, Test: res.Test, Baseline: res.Baseline, PerKPIRMSE: perKPI,
			TrainSeconds: res.Duration.Seconds()}, nil
	}
}
