package e2e

import "time"

// Named budgets of the suite. HPA budgets are not here: they are derived
// from the running cluster's periods (framework.DiscoverPeriods).
const (
	// ClusterUpTimeout bounds engine start, node image build (a cold
	// Kubernetes build from source takes ~10 min on 2 cores) and cluster
	// creation with metrics-server.
	ClusterUpTimeout = 40 * time.Minute
	// ImagesTimeout bounds building the pipeline images (MinIO from source
	// takes ~3 min cold) and loading them into the node.
	ImagesTimeout = 20 * time.Minute
	// HelmTimeout bounds one helm command against the cluster.
	HelmTimeout = 5 * time.Minute
	// PipelineTimeout bounds preprocess, the three trainings (e2e values
	// keep them under a minute each on a shared core) and the promotion.
	PipelineTimeout = 12 * time.Minute
	// RolloutTimeout bounds a Deployment reaching its ready replicas with
	// images already in the node.
	RolloutTimeout = 3 * time.Minute
	// Poll is the interval of every Eventually in the suite.
	Poll = 2 * time.Second
	// RequestTimeout bounds one HTTP call from the suite.
	RequestTimeout = 10 * time.Second
)
