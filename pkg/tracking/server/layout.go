package server

import "github.com/flts/flts-e2e/pkg/tracking"

// The store layout and names only the server uses.
const (
	lifecycleActive       = "active"
	defaultExperimentName = "Default"
	runIndexPrefix        = "run-index/"
	experimentsPrefix     = "experiments/"
	runMetaName           = "meta.json"
	artifactsDir          = "artifacts"
	tagRunName            = "mlflow.runName"
	promotedTag           = "promoted"
)

func validStatus(s string) bool {
	switch s {
	case tracking.StatusRunning, tracking.StatusScheduled, tracking.StatusFinished, tracking.StatusFailed, tracking.StatusKilled:
		return true
	}
	return false
}

func terminalStatus(s string) bool {
	return s == tracking.StatusFinished || s == tracking.StatusFailed || s == tracking.StatusKilled
}
