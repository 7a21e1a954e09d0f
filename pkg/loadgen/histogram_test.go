package loadgen

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramPrecision(t *testing.T) {
	for v := 60 * time.Microsecond; v < 100*time.Second; v = time.Duration(float64(v) * 1.37) {
		var h Histogram
		h.Record(v)
		h.Record(2 * v) // so clipping to max does not hide the bucket error
		got := h.Quantile(0.5)
		if got < v || float64(got) > float64(v)*1.0101 {
			t.Fatalf("Quantile(0.5) of {%s, %s} = %s, want within +1%% of %s", v, 2*v, got, v)
		}
	}
}

func TestHistogramQuantileMatchesSortedData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 20000 {
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5 + math.Log(float64(200*time.Millisecond))))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		exact := all[int(math.Ceil(q*float64(len(all))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*1.0101 {
			t.Errorf("Quantile(%g) = %s, exact %s: outside +1%%", q, got, exact)
		}
	}
	if h.Max() != all[len(all)-1] || h.Min() != all[0] {
		t.Errorf("min/max = %s/%s, want %s/%s", h.Min(), h.Max(), all[0], all[len(all)-1])
	}
}

func TestHistogramMergeOfHalvesEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var whole, a, b Histogram
	for i := range 10000 {
		d := time.Duration(rng.Int64N(int64(10 * time.Second)))
		if i%7 == 0 {
			d = time.Duration(rng.Int64N(int64(100 * time.Microsecond))) // underflow region too
		}
		whole.Record(d)
		if rng.IntN(2) == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	merged := a.Clone()
	merged.Merge(&b)
	wantJSON, _ := json.Marshal(whole)
	gotJSON, _ := json.Marshal(merged)
	if string(wantJSON) != string(gotJSON) {
		t.Fatalf("merge of halves differs from the whole")
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if merged.Quantile(q) != whole.Quantile(q) {
			t.Errorf("Quantile(%g): merged %s, whole %s", q, merged.Quantile(q), whole.Quantile(q))
		}
	}
	if a.Count()+b.Count() != whole.Count() || merged.Mean() != whole.Mean() {
		t.Errorf("counts/mean differ after merge")
	}
}

func TestHistogramJSONRoundTripAndLayoutCheck(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{10 * time.Microsecond, time.Millisecond, 3 * time.Second, 200 * time.Second} {
		h.Record(d)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) || back.Quantile(0.75) != h.Quantile(0.75) {
		t.Fatalf("round trip changed the histogram:\n%s\n%s", b, b2)
	}
	bad := strings.Replace(string(b), `"growth":1.01`, `"growth":1.02`, 1)
	if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("want a layout error for another growth, got %v", err)
	}
	lying := strings.Replace(string(b), `"total":4`, `"total":5`, 1)
	if err := json.Unmarshal([]byte(lying), &back); err == nil {
		t.Errorf("want an error when the buckets do not add up to total")
	}
}
