package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// The bucket layout is fixed so that any two histograms merge by adding
// counts: log-linear buckets growing by 1 % from 50 µs to 120 s, plus an
// underflow bucket (index 0) and an overflow bucket (index histBuckets+1).
const (
	histLowest = 50 * time.Microsecond
	histHigh   = 120 * time.Second
	histGrowth = 1.01
)

var histBuckets = int(math.Ceil(math.Log(float64(histHigh)/float64(histLowest)) / math.Log(histGrowth)))

// Histogram counts latencies in fixed log-linear buckets with about 1 %
// relative precision. The zero value is empty and ready to use.
type Histogram struct {
	counts map[int]uint64
	total  uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

func bucketOf(d time.Duration) int {
	if d < histLowest {
		return 0
	}
	if d >= histHigh {
		return histBuckets + 1
	}
	i := 1 + int(math.Floor(math.Log(float64(d)/float64(histLowest))/math.Log(histGrowth)))
	return min(max(i, 1), histBuckets)
}

// bucketUpper is the exclusive upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	switch {
	case i <= 0:
		return histLowest
	case i > histBuckets:
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(float64(histLowest) * math.Pow(histGrowth, float64(i)))
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	if h.counts == nil {
		h.counts = map[int]uint64{}
	}
	h.counts[bucketOf(d)]++
	if h.total == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.total++
	h.sum += d
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest observation (exact).
func (h *Histogram) Max() time.Duration { return h.max }

// Min is the smallest observation (exact).
func (h *Histogram) Min() time.Duration { return h.min }

// Mean is the exact mean of the observations.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return h.sum / time.Duration(h.total)
}

// Merge adds the counts of o to h. Because the layout is fixed, the result
// is exactly the histogram of all observations of both.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = map[int]uint64{}
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Clone returns an independent copy.
func (h *Histogram) Clone() *Histogram {
	c := &Histogram{}
	c.Merge(h)
	return c
}

// Quantile returns the q-quantile (0 < q <= 1) from the bucket counts: the
// upper bound of the bucket holding the rank, clipped to the exact min/max,
// so it is at most ~1 % above the true value.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	idx := make([]int, 0, len(h.counts))
	for i := range h.counts {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var seen uint64
	for _, i := range idx {
		seen += h.counts[i]
		if seen >= rank {
			return min(max(bucketUpper(i), h.min), h.max)
		}
	}
	return h.max
}

// histogramJSON is the serialised form: the layout (checked on decode so a
// mismatched producer cannot be merged silently) and the non-empty buckets
// as [index, count] pairs in index order.
type histogramJSON struct {
	LowestNS  int64       `json:"lowest_ns"`
	HighestNS int64       `json:"highest_ns"`
	Growth    float64     `json:"growth"`
	Total     uint64      `json:"total"`
	MinNS     int64       `json:"min_ns"`
	MaxNS     int64       `json:"max_ns"`
	SumNS     int64       `json:"sum_ns"`
	Buckets   [][2]uint64 `json:"buckets"`
}

// MarshalJSON implements json.Marshaler.
func (h Histogram) MarshalJSON() ([]byte, error) {
	out := histogramJSON{
		LowestNS: int64(histLowest), HighestNS: int64(histHigh), Growth: histGrowth,
		Total: h.total, MinNS: int64(h.min), MaxNS: int64(h.max), SumNS: int64(h.sum),
		Buckets: make([][2]uint64, 0, len(h.counts)),
	}
	for i, c := range h.counts {
		out.Buckets = append(out.Buckets, [2]uint64{uint64(i), c})
	}
	sort.Slice(out.Buckets, func(a, b int) bool { return out.Buckets[a][0] < out.Buckets[b][0] })
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler; it rejects other layouts and
// counts that do not add up.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("failed to decode histogram: %w", err)
	}
	if in.Total == 0 && len(in.Buckets) == 0 && in.LowestNS == 0 {
		*h = Histogram{}
		return nil
	}
	if in.LowestNS != int64(histLowest) || in.HighestNS != int64(histHigh) || in.Growth != histGrowth {
		return fmt.Errorf("failed to decode histogram: layout lowest=%dns highest=%dns growth=%g differs from %dns/%dns/%g",
			in.LowestNS, in.HighestNS, in.Growth, int64(histLowest), int64(histHigh), histGrowth)
	}
	out := Histogram{counts: make(map[int]uint64, len(in.Buckets)), total: in.Total,
		min: time.Duration(in.MinNS), max: time.Duration(in.MaxNS), sum: time.Duration(in.SumNS)}
	var total uint64
	for _, bc := range in.Buckets {
		if bc[0] > uint64(histBuckets+1) {
			return fmt.Errorf("failed to decode histogram: bucket index %d out of range", bc[0])
		}
		out.counts[int(bc[0])] += bc[1]
		total += bc[1]
	}
	if total != in.Total {
		return fmt.Errorf("failed to decode histogram: buckets hold %d observations, total says %d", total, in.Total)
	}
	*h = out
	return nil
}
