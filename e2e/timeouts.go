package e2e

import "time"

// Named budgets of the suite. HPA budgets are not here: they are derived
// from the running cluster's periods (framework.DiscoverPeriods).
const (
	// ClusterUpTimeout bounds engine start and cluster creation with
	// metrics-server and the default StorageClass: the sum of
	// tools/cluster's waits (node Ready 3 min, CoreDNS 3 min, provisioner
	// 3 min, metrics API 4 min) plus kind create and an engine start. No
	// image is built here: `make e2e` builds them first.
	ClusterUpTimeout = 15 * time.Minute
	// MetricsAPITimeout bounds the metrics API serving node metrics: kind's
	// cluster.Up waited for it already, and an existing cluster's
	// metrics-server serves within one scrape (60 s at its default).
	MetricsAPITimeout = time.Minute
	// ImagesTimeout bounds loading the pre-built pipeline images into the
	// node (about 250 MB through `kind load`).
	ImagesTimeout = 5 * time.Minute
	// NamespaceResetTimeout bounds deleting a reused cluster's previous
	// install: its pods' grace periods (30 s at most) and the claims'
	// volumes.
	NamespaceResetTimeout = 3 * time.Minute
	// HelmTimeout bounds one helm command against the cluster.
	HelmTimeout = 5 * time.Minute
	// PipelineTimeout bounds preprocess, the three trainings (e2e values
	// keep them under a minute each on a shared core) and the promotion:
	// 30-33 s from install, 2-10 s from a new dataset, measured 2026-11-28.
	// With the other set-up bounds it keeps BeforeSuite (44 min) inside
	// the Makefile's E2E_TIMEOUT (45 min).
	PipelineTimeout = 6 * time.Minute
	// RolloutTimeout bounds a Deployment reaching its ready replicas with
	// images already in the node.
	RolloutTimeout = 3 * time.Minute
	// GuardTimeout bounds the guards after each spec: a few API reads and
	// the wait for the HPA's metrics (Periods.MetricsBudget, about 90 s
	// with metrics-server's 15 s resolution and the HPA's 15 s sync).
	GuardTimeout = 3 * time.Minute
	// Poll is the interval of every Eventually in the suite.
	Poll = 2 * time.Second
	// RequestTimeout bounds one HTTP call from the suite.
	RequestTimeout = 10 * time.Second
)
