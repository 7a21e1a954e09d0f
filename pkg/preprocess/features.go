package preprocess

import (
	"fmt"
	"math"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
)

// NumTimeFeatures is the count of cyclic time features.
const NumTimeFeatures = 6

// NumFeatures is the row width of the scaled series: 11 KPIs then 6 time features.
const NumFeatures = dataset.NumKPIs + NumTimeFeatures

var timeFeatureNames = [NumTimeFeatures]string{
	"minute_of_day_sin", "minute_of_day_cos",
	"day_of_week_sin", "day_of_week_cos",
	"day_of_year_sin", "day_of_year_cos",
}

// FeatureNames returns the 17 feature names, the 11 KPIs first.
func FeatureNames() []string {
	return append(dataset.KPIs(), timeFeatureNames[:]...)
}

func daysInYear(y int) float64 {
	return float64(time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC).YearDay())
}

// TimeFeatures writes the six cyclic features of t (UTC) into dst[:6].
// Each cycle position is continuous (day-of-week and day-of-year include
// the fraction of the day), so consecutive steps advance smoothly and the
// time of a row can be recovered from its features (see Scaler.DecodeTime).
func TimeFeatures(t time.Time, dst []float64) {
	t = t.UTC()
	mod := (float64(t.Hour()*60+t.Minute()) + float64(t.Second())/60 + float64(t.Nanosecond())/6e10) / 1440
	dow := (float64(t.Weekday()) + mod) / 7
	doy := (float64(t.YearDay()-1) + mod) / daysInYear(t.Year())
	for i, frac := range [3]float64{mod, dow, doy} {
		a := 2 * math.Pi * frac
		dst[2*i] = math.Sin(a)
		dst[2*i+1] = math.Cos(a)
	}
}

// Scaler is a per-feature min-max scaler: scaled = (v - Min) / (Max - Min).
// A constant feature (Max == Min) is only shifted, never divided by zero.
type Scaler struct {
	Min []float64 `json:"min"`
	Max []float64 `json:"max"`
}

// Validate checks the scaler has NumFeatures finite bounds.
func (s Scaler) Validate() error {
	if len(s.Min) != NumFeatures || len(s.Max) != NumFeatures {
		return fmt.Errorf("scaler has %d min / %d max values, want %d", len(s.Min), len(s.Max), NumFeatures)
	}
	for i := range s.Min {
		if !finite(s.Min[i]) || !finite(s.Max[i]) || s.Max[i] < s.Min[i] {
			return fmt.Errorf("scaler feature %d has bad bounds [%g, %g]", i, s.Min[i], s.Max[i])
		}
	}
	return nil
}

func (s Scaler) span(i int) float64 {
	if d := s.Max[i] - s.Min[i]; d > 0 {
		return d
	}
	return 1
}

// Scale maps a raw value of feature i to the scaled space.
func (s Scaler) Scale(i int, v float64) float64 { return (v - s.Min[i]) / s.span(i) }

// Unscale maps a scaled value of feature i back to original units.
func (s Scaler) Unscale(i int, v float64) float64 { return v*s.span(i) + s.Min[i] }

// FeatureRow writes the scaled 17-feature row of raw KPI values kpis (11)
// observed at t into dst (17).
func (s Scaler) FeatureRow(t time.Time, kpis []float64, dst []float64) {
	for k := 0; k < dataset.NumKPIs; k++ {
		dst[k] = s.Scale(k, kpis[k])
	}
	s.TimeRow(t, dst)
}

// TimeRow writes the scaled time features of t into dst[11:17], leaving the KPIs alone.
func (s Scaler) TimeRow(t time.Time, dst []float64) {
	var tf [NumTimeFeatures]float64
	TimeFeatures(t, tf[:])
	for j, v := range tf {
		dst[dataset.NumKPIs+j] = s.Scale(dataset.NumKPIs+j, v)
	}
}

// FeatureRows is the inference-time feature function: raw KPI rows
// (rows x 11, original units, finite) at the given times become scaled
// 17-feature rows.
func FeatureRows(times []time.Time, kpis [][]float64, s Scaler) ([][]float64, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(times) != len(kpis) {
		return nil, fmt.Errorf("got %d timestamps for %d KPI rows", len(times), len(kpis))
	}
	out := make([][]float64, len(kpis))
	flat := make([]float64, len(kpis)*NumFeatures)
	for i, row := range kpis {
		if len(row) != dataset.NumKPIs {
			return nil, fmt.Errorf("row %d has %d KPI values, want %d", i, len(row), dataset.NumKPIs)
		}
		for k, v := range row {
			if !finite(v) {
				return nil, fmt.Errorf("row %d KPI %q is not a finite number", i, dataset.KPIs()[k])
			}
		}
		out[i] = flat[i*NumFeatures : (i+1)*NumFeatures : (i+1)*NumFeatures]
		s.FeatureRow(times[i], row, out[i])
	}
	return out, nil
}

// DecodeTime recovers the timestamp of a scaled feature row from its time
// features, to the minute. The year is not encoded, so the candidate
// closest to near is chosen; near should be within a few months.
func (s Scaler) DecodeTime(row []float64, near time.Time) (time.Time, error) {
	if len(row) < NumFeatures {
		return time.Time{}, fmt.Errorf("row has %d features, want %d", len(row), NumFeatures)
	}
	frac := func(j int) float64 {
		sn := s.Unscale(dataset.NumKPIs+2*j, row[dataset.NumKPIs+2*j])
		cs := s.Unscale(dataset.NumKPIs+2*j+1, row[dataset.NumKPIs+2*j+1])
		f := math.Atan2(sn, cs) / (2 * math.Pi)
		if f < 0 {
			f++
		}
		return f
	}
	minute := math.Round(frac(0) * 1440)
	if minute >= 1440 {
		minute -= 1440
	}
	doy := frac(2)
	near = near.UTC()
	best, bestDist := time.Time{}, time.Duration(math.MaxInt64)
	for y := near.Year() - 1; y <= near.Year()+1; y++ {
		day := math.Round(doy*daysInYear(y) - minute/1440)
		t := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(day)).Add(time.Duration(minute) * time.Minute)
		d := t.Sub(near)
		if d < 0 {
			d = -d
		}
		if d < bestDist {
			best, bestDist = t, d
		}
	}
	return best, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
