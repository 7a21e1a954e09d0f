package inference

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/forecast"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

// trainGRU trains a real GRU on rows generated rows with hidden units, to
// serve real model arithmetic.
func trainGRU(tb testing.TB, rows int, hidden string) Predictor {
	tb.Helper()
	frame, err := dataset.Generate(dataset.GenerateConfig{Rows: rows, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	data, err := preprocess.Run(frame, preprocess.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	res, err := forecast.Train(context.Background(), forecast.TrainInput{ModelType: model.TypeGRU, Data: data,
		Params: map[string]string{"epochs": "1", "hidden": hidden}, Seed: 1, RunID: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := json.Marshal(res.Artifact)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := LoadForecast(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// gruPredictor is a small real GRU (the chart's default size) to benchmark
// the serving path with real model arithmetic.
func gruPredictor(b *testing.B) Predictor { return trainGRU(b, 1500, "32") }

// BenchmarkPredictHTTP measures POST /predict {"inference_length":1} over
// loopback HTTP with keep-alive, against a real GRU; it reports req/s. The
// model is trained once, outside the measured sub-benchmark.
func BenchmarkPredictHTTP(b *testing.B) {
	p := gruPredictor(b)
	b.Run("GRU", func(b *testing.B) {
		s := NewServer(Config{Pod: "bench", MaxQueue: 4096})
		s.SetModel(p)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln, nil) }()
		url := "http://" + ln.Addr().String() + "/predict"
		transport := &http.Transport{MaxIdleConnsPerHost: 256}
		client := &http.Client{Transport: transport}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(url, "application/json", strings.NewReader(`{"inference_length":1}`))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		transport.CloseIdleConnections()
		cancel()
		<-done
	})
}
