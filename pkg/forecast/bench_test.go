package forecast

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

var (
	defaultOnce sync.Once
	defaultData *preprocess.Processed
)

// defaultProcessed is the default-size data set (15,927 generated rows).
func defaultProcessed(b *testing.B) *preprocess.Processed {
	defaultOnce.Do(func() { defaultData = processed(b, dataset.DefaultRows) })
	return defaultData
}

func benchTrain(b *testing.B, typ string) {
	p := defaultProcessed(b)
	b.ResetTimer()
	for b.Loop() {
		res, err := Train(context.Background(), TrainInput{ModelType: typ, Data: p, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Duration.Seconds(), "train_s")
		b.ReportMetric(res.Test.RMSE, "rmse")
		b.ReportMetric(res.Test.MAE, "mae")
		b.ReportMetric(res.Test.MSE, "mse")
		b.ReportMetric(res.Baseline.RMSE, "base_rmse")
		b.ReportMetric(res.Baseline.MAE, "base_mae")
		b.ReportMetric(res.Baseline.MSE, "base_mse")
	}
}

func BenchmarkTrainGRU(b *testing.B)     { benchTrain(b, model.TypeGRU) }
func BenchmarkTrainLSTM(b *testing.B)    { benchTrain(b, model.TypeLSTM) }
func BenchmarkTrainProphet(b *testing.B) { benchTrain(b, model.TypeProphet) }

// BenchmarkPredictGRU is one inference_length=1 request from caller rows.
func BenchmarkPredictGRU(b *testing.B) {
	p := defaultProcessed(b)
	res, err := Train(context.Background(), TrainInput{ModelType: model.TypeGRU, Data: p, Seed: 1,
		Params: map[string]string{"epochs": "1", "max_train_windows": "500"}})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := NewPredictor(res.Artifact)
	if err != nil {
		b.Fatal(err)
	}
	n := len(p.Series)
	times := make([]time.Time, 10)
	kpis := map[string][]float64{}
	for i := range 10 {
		times[i] = p.TimeAt(n - 10 + i)
		for k, name := range dataset.KPIs() {
			kpis[name] = append(kpis[name], p.Scaler.Unscale(k, p.Series[n-10+i][k]))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := pr.PredictFrom(times, kpis, 1); err != nil {
			b.Fatal(err)
		}
	}
}
