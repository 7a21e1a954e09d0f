package report

import (
	"time"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

// Sample is one observation of a quantity over time.
type Sample struct {
	T     time.Time `json:"t"`
	Value float64   `json:"value"`
}

// LevelResult is one load level (a number of users for a duration).
type LevelResult struct {
	Users    int             `json:"users"`
	Workers  int             `json:"workers"`
	Duration time.Duration   `json:"duration_ns"`
	Summary  loadgen.Summary `json:"summary"`
	// Replicas is the inference replica count over time.
	Replicas []Sample `json:"replicas,omitempty"`
	// PodCPU is each inference pod's CPU use in millicores over time.
	PodCPU map[string][]Sample `json:"pod_cpu,omitempty"`
	// OfferedRPS is the request rate over time; when empty it is derived
	// from Summary.Timeline.
	OfferedRPS []Sample `json:"offered_rps,omitempty"`
	// Times from the start of the load; zero means not observed.
	FirstScaleUp time.Duration `json:"first_scale_up_ns"`
	Peak         time.Duration `json:"peak_ns"`
	BackToMin    time.Duration `json:"back_to_min_ns"`
	MaxReplicas  int           `json:"max_replicas"`

	// Prometheus is the same level as the chart's Prometheus recorded it,
	// when monitoring is on.
	Prometheus *PromFigures `json:"prometheus,omitempty"`

	Passed        bool   `json:"passed"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// PromFigures are a level's figures from the chart's Prometheus: a second
// source, independent of the load generator and the suite's HPA sampler.
type PromFigures struct {
	// Requests to /predict the inference pods counted during the level.
	Requests float64 `json:"requests"`
	// P95 of /predict as the pods' latency histogram estimates it (server
	// side: without the network and the load generator's own queueing).
	P95 time.Duration `json:"p95_ns"`
	// PeakReplicas is the HPA's highest current replicas (hpa-exporter).
	PeakReplicas int `json:"peak_replicas"`
	// RPS and Replicas over time, for the plot.
	RPS      []Sample `json:"rps,omitempty"`
	Replicas []Sample `json:"replicas,omitempty"`
	// AtMaxAlert is FltsInferenceAtMaxReplicas' states during the level
	// and its scale-down.
	AtMaxAlert []AlertState `json:"at_max_alert,omitempty"`
	// Err is why some figure could not be read.
	Err string `json:"error,omitempty"`
}

// AlertState is an alert's state from time T on.
type AlertState struct {
	T     time.Time `json:"t"`
	State string    `json:"state"` // inactive, pending or firing
}

// HPAEvent is one step of an HPA run's timeline.
type HPAEvent struct {
	T     time.Time `json:"t"`
	Event string    `json:"event"`
}

// HPARun is one scale-up / scale-down observation of the inference HPA.
type HPARun struct {
	Users            int `json:"users"`
	MinReplicas      int `json:"min_replicas"`
	MaxReplicas      int `json:"max_replicas"`
	TargetCPUPercent int `json:"target_cpu_percent"`
	// LoadStart and LoadStop bound the applied load.
	LoadStart time.Time `json:"load_start"`
	LoadStop  time.Time `json:"load_stop"`
	// ScaleUpDecision: load start → HPA desired replicas above the minimum.
	ScaleUpDecision time.Duration `json:"scale_up_decision_ns"`
	// NewPodsServing: load start → first answer from a pod added by the HPA.
	NewPodsServing time.Duration `json:"new_pods_serving_ns"`
	// ScaleDown: load stop → replicas back at the minimum.
	ScaleDown    time.Duration `json:"scale_down_ns"`
	PeakReplicas int           `json:"peak_replicas"`
	Replicas     []Sample      `json:"replicas,omitempty"`
	Timeline     []HPAEvent    `json:"timeline,omitempty"`
	// Summary of the load applied during the run, when measured.
	Summary *loadgen.Summary `json:"summary,omitempty"`

	Passed        bool   `json:"passed"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// OriginalFigure is a load-test result recorded for the original Python
// FLTS (../shared/docs/flts-reference.md); the only constants in the report.
type OriginalFigure struct {
	Replicas, Users int
	RPS             float64
	FailurePercent  float64
	P50, P95        time.Duration
}

// OriginalFigures are the original's recorded load-test results.
func OriginalFigures() []OriginalFigure {
	const s = time.Second
	return []OriginalFigure{
		{1, 200, 12.3, 63.4, 1400 * time.Millisecond, 5200 * time.Millisecond},
		{2, 200, 25.6, 0, 3300 * time.Millisecond, 5500 * time.Millisecond},
		{2, 800, 28.8, 8.6, 19 * s, 28 * s},
		{4, 400, 43.0, 0, 5200 * time.Millisecond, 7500 * time.Millisecond},
		{8, 400, 56.1, 0, 3400 * time.Millisecond, 6400 * time.Millisecond},
	}
}
