package preprocess

import (
	"fmt"
	"math"

	"github.com/flts/flts-e2e/pkg/dataset"
)

// imputeKNN fills the NaN KPI cells of rows (n x 11, modified in place)
// with the mean of the k nearest donor rows.
//
// Choices, and why:
//   - Donors are complete rows of the training part only (index < split),
//     so test values never leak into training data.
//   - Distance is Euclidean over the KPIs the row does have, each
//     normalised by its training min-max range (the KPIs span 16 orders of
//     magnitude), re-weighted by 11/observed as scikit-learn's
//     nan_euclidean does, PLUS the four daily/weekly time features
//     (timeFeats, n x 6, only the first 4 used). The time term is what
//     makes whole missing rows (gaps re-gridded to all-NaN) imputable:
//     they get values typical of the same time of day and week, rather
//     than a global mean.
//
// It returns the number of cells filled.
func imputeKNN(rows [][]float64, timeFeats [][NumTimeFeatures]float64, split, k int) (int, error) {
	const nk = dataset.NumKPIs
	var lo, hi [nk]float64
	for j := range lo {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
	}
	var donors []int
	incomplete := 0
	for i, r := range rows {
		complete := true
		for j, v := range r {
			if math.IsNaN(v) {
				complete = false
				continue
			}
			if i < split {
				lo[j] = math.Min(lo[j], v)
				hi[j] = math.Max(hi[j], v)
			}
		}
		if !complete {
			incomplete++
		} else if i < split {
			donors = append(donors, i)
		}
	}
	if incomplete == 0 {
		return 0, nil
	}
	if len(donors) == 0 {
		return 0, fmt.Errorf("failed to impute: the training part has no complete row to take values from")
	}
	var inv [nk]float64
	for j := range inv {
		if d := hi[j] - lo[j]; d > 0 && !math.IsInf(d, 0) {
			inv[j] = 1 / d
		}
	}
	if k > len(donors) {
		k = len(donors)
	}
	bestIdx := make([]int, k)
	bestDist := make([]float64, k)
	filled := 0
	var obs [nk]int
	for i, r := range rows {
		nobs := 0
		for j, v := range r {
			if !math.IsNaN(v) {
				obs[nobs] = j
				nobs++
			}
		}
		if nobs == nk {
			continue
		}
		weight := 0.0
		if nobs > 0 {
			weight = float64(nk) / float64(nobs)
		}
		found := 0
		for _, d := range donors {
			dr := rows[d]
			dist := 0.0
			for _, j := range obs[:nobs] {
				x := (r[j] - dr[j]) * inv[j]
				dist += x * x
			}
			dist *= weight
			for t := 0; t < 4; t++ {
				x := timeFeats[i][t] - timeFeats[d][t]
				dist += x * x
			}
			// Keep the k best in an insertion-sorted list; k is small.
			if found < k {
				found++
			} else if dist >= bestDist[k-1] {
				continue
			}
			p := found - 1
			for p > 0 && bestDist[p-1] > dist {
				bestDist[p], bestIdx[p] = bestDist[p-1], bestIdx[p-1]
				p--
			}
			bestDist[p], bestIdx[p] = dist, d
		}
		for j, v := range r {
			if !math.IsNaN(v) {
				continue
			}
			sum := 0.0
			for _, d := range bestIdx[:found] {
				sum += rows[d][j]
			}
			r[j] = sum / float64(found)
			filled++
		}
	}
	return filled, nil
}
