package framework

import (
	"testing"
	"time"
)

func TestMeasureTimings(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	samples := []HPASample{
		{T: at(-5), Current: 2, Desired: 2, Ready: 2},
		{T: at(10), Current: 2, Desired: 2, Ready: 2},
		{T: at(20), Current: 2, Desired: 4, Ready: 2},
		{T: at(30), Current: 4, Desired: 6, Ready: 3},
		{T: at(40), Current: 6, Desired: 6, Ready: 6},
		{T: at(60), Current: 6, Desired: 2, Ready: 6}, // load ends at 50
		{T: at(80), Current: 2, Desired: 2, Ready: 2},
		{T: at(90), Current: 2, Desired: 2, Ready: 2},
	}
	got := MeasureTimings(samples, 2, start, at(50))
	want := Timings{FirstScaleUp: 20 * time.Second, NewPodsReady: 30 * time.Second, Peak: 40 * time.Second, PeakReplicas: 6, BackToMin: 30 * time.Second}
	if got != want {
		t.Fatalf("MeasureTimings = %+v, want %+v", got, want)
	}
	// Never scaled down: BackToMin stays zero (not observed).
	got = MeasureTimings(samples[:6], 2, start, at(50))
	if got.BackToMin != 0 {
		t.Fatalf("BackToMin = %v for a series that never returned", got.BackToMin)
	}
}

func TestParsePodMetrics(t *testing.T) {
	raw := []byte(`{"kind":"PodMetricsList","items":[
	 {"metadata":{"name":"inference-a"},"containers":[{"name":"inference","usage":{"cpu":"12345678n","memory":"20Mi"}}]},
	 {"metadata":{"name":"inference-b"},"containers":[{"name":"inference","usage":{"cpu":"250m","memory":"20Mi"}},{"name":"side","usage":{"cpu":"1m"}}]}]}`)
	got, err := parsePodMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got["inference-a"] != 13 || got["inference-b"] != 251 {
		t.Fatalf("parsePodMetrics = %v", got)
	}
	if _, err := parsePodMetrics([]byte(`{"items":[{"metadata":{"name":"x"},"containers":[{"usage":{"cpu":"lots"}}]}]}`)); err == nil {
		t.Fatal("want an error for a bad quantity")
	}
}
