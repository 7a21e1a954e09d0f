package server

import (
	"context"
	"testing"
)

// BenchmarkLogBatch measures one log-batch round trip (HTTP + read-modify-
// write of meta.json on a dirstore with fsync).
func BenchmarkLogBatch(b *testing.B) {
	f := newFixture(b)
	exp, err := f.client.GetOrCreateExperiment(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	r, err := f.client.CreateRun(context.Background(), exp, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	metrics := map[string]float64{"rmse": 0.1, "mae": 0.2, "mse": 0.3}
	b.ResetTimer()
	for b.Loop() {
		if err := f.client.LogBatch(context.Background(), r.Info.RunID, metrics, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
