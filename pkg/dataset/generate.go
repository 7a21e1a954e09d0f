package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// DefaultRows is the row count of the original default cell file.
const DefaultRows = 15927

// GenerateConfig configures the synthetic generator. Zero values take
// the defaults: 15,927 rows, seed 0, start 2018-03-28T00:00:00Z, 2-minute step.
type GenerateConfig struct {
	Rows  int           // rows emitted (gaps do not count)
	Seed  uint64        // same seed, same frame
	Start time.Time     // time of the first grid slot
	Step  time.Duration // grid period
}

func (c GenerateConfig) withDefaults() GenerateConfig {
	if c.Rows == 0 {
		c.Rows = DefaultRows
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2018, 3, 28, 0, 0, 0, 0, time.UTC)
	}
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	return c
}

// kpiShape describes how one synthetic KPI behaves.
type kpiShape struct {
	base      float64 // typical level, sets the magnitude
	dailyAmp  float64 // relative amplitude of the daily profile
	weekend   float64 // relative level change on weekends
	noise     float64 // relative standard deviation of the noise
	bursty    bool    // takes part in traffic bursts
	trendPerD float64 // relative trend per day
}

// shapes spans the magnitudes of the real PDCCH KPIs (~1e8 down to ~1e-8).
var shapes = [NumKPIs]kpiShape{
	{base: 1.5e8, dailyAmp: 0.8, weekend: -0.25, noise: 0.10, bursty: true, trendPerD: 0.004}, // down
	{base: 2.0e7, dailyAmp: 0.7, weekend: -0.20, noise: 0.12, bursty: true, trendPerD: 0.003}, // up
	{base: 1.2e3, dailyAmp: 0.6, weekend: -0.15, noise: 0.06, bursty: true, trendPerD: 0.002}, // rnti_count
	{base: 18, dailyAmp: 0.15, weekend: 0.03, noise: 0.04, trendPerD: 0.0005},                 // mcs_down
	{base: 40, dailyAmp: 0.25, weekend: 0.05, noise: 0.10},                                    // mcs_down_var
	{base: 12, dailyAmp: 0.12, weekend: 0.02, noise: 0.05, trendPerD: -0.0005},                // mcs_up
	{base: 25, dailyAmp: 0.2, weekend: 0.04, noise: 0.10},                                     // mcs_up_var
	{base: 0.12, dailyAmp: 0.7, weekend: -0.2, noise: 0.10, bursty: true, trendPerD: 0.003},   // rb_down
	{base: 3e-3, dailyAmp: 0.8, weekend: -0.2, noise: 0.15, bursty: true},                     // rb_down_var
	{base: 0.03, dailyAmp: 0.6, weekend: -0.15, noise: 0.12, bursty: true, trendPerD: 0.002},  // rb_up
	{base: 5e-8, dailyAmp: 0.7, weekend: -0.1, noise: 0.15},                                   // rb_up_var
}

// Probabilities of the defects the generator injects.
const (
	dropRowProb   = 0.002  // a single row missing from the file
	gapStartProb  = 0.0004 // a run of rows missing (outage)
	missingProb   = 0.002  // a single empty cell
	burstProb     = 0.002  // a traffic burst starts
	noiseARCoeff  = 0.3    // noise is AR(1) with a small coefficient: not a random walk
	maxGapRows    = 30
	maxBurstSteps = 12
)

// dailyProfile is a smooth daily load curve in [-1, 1]: quiet at night,
// a morning rise and an evening peak.
func dailyProfile(minuteOfDay float64) float64 {
	x := 2 * math.Pi * minuteOfDay / 1440
	v := -0.75*math.Cos(x) - 0.35*math.Sin(x) + 0.25*math.Cos(2*x-1.2) + 0.1*math.Sin(3*x)
	return v / 1.1
}

// Generate builds a deterministic synthetic KPI frame with daily and weekly
// seasonality, a mild trend, AR(1) noise, bursts, dropped rows and missing cells.
func Generate(cfg GenerateConfig) (Frame, error) {
	cfg = cfg.withDefaults()
	if cfg.Rows < 0 {
		return Frame{}, fmt.Errorf("failed to generate data: rows must be positive, got %d", cfg.Rows)
	}
	if cfg.Step < time.Second {
		return Frame{}, fmt.Errorf("failed to generate data: step must be at least 1s, got %s", cfg.Step)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	f := Frame{
		Times:   make([]time.Time, 0, cfg.Rows),
		Columns: KPIs(),
		Values:  make([][]float64, 0, cfg.Rows),
	}
	var noise [NumKPIs]float64
	burstLeft, burstGain := 0, 0.0
	gapLeft := 0
	for slot := 0; len(f.Times) < cfg.Rows; slot++ {
		t := cfg.Start.Add(time.Duration(slot) * cfg.Step)
		// The latent state evolves on every slot, emitted or not, so a gap
		// really is missing data rather than a time shift.
		for k := range noise {
			noise[k] = noiseARCoeff*noise[k] + rng.NormFloat64()*math.Sqrt(1-noiseARCoeff*noiseARCoeff)
		}
		if burstLeft > 0 {
			burstLeft--
		} else if rng.Float64() < burstProb {
			burstLeft = 1 + rng.IntN(maxBurstSteps)
			burstGain = 0.3 + 0.7*rng.Float64()
		}
		if gapLeft > 0 {
			gapLeft--
			continue
		}
		if slot > 0 && rng.Float64() < gapStartProb {
			gapLeft = 4 + rng.IntN(maxGapRows)
			continue
		}
		if slot > 0 && rng.Float64() < dropRowProb {
			continue
		}
		minuteOfDay := float64(t.Hour()*60+t.Minute()) + float64(t.Second())/60
		day := t.Sub(cfg.Start).Hours() / 24
		weekend := 0.0
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			weekend = 1
		}
		prof := dailyProfile(minuteOfDay)
		row := make([]float64, NumKPIs)
		for k, s := range shapes {
			level := 1 + s.dailyAmp*prof
			level *= 1 + s.weekend*weekend
			level *= 1 + s.trendPerD*day
			v := level * (1 + s.noise*noise[k])
			if s.bursty && burstLeft > 0 {
				v *= 1 + burstGain
			}
			if v < 0.01 {
				v = 0.01
			}
			row[k] = s.base * v
			if rng.Float64() < missingProb {
				row[k] = math.NaN()
			}
		}
		f.Times = append(f.Times, t)
		f.Values = append(f.Values, row)
	}
	return f, nil
}
