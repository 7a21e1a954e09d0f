package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(time.Duration(i%100000) * 10 * time.Microsecond)
	}
}

// BenchmarkRunLoopback measures the generator's own cost per request
// against a loopback server that answers at once (think time ~0).
func BenchmarkRunLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Served-By", "bench")
	}))
	defer srv.Close()
	b.ResetTimer()
	s, err := Run(context.Background(), Config{URL: srv.URL + "/predict", Users: 16, Duration: time.Hour, ThinkMin: time.Nanosecond,
		ThinkMax: time.Nanosecond, MaxRequests: b.N})
	if err != nil || s.Requests != b.N {
		b.Fatalf("requests %d of %d: %v", s.Requests, b.N, err)
	}
}
