package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/tools/cluster"
	"github.com/flts/flts-e2e/tools/imagebuild"
)

// target is the cluster the suite runs on: a kind cluster it creates
// (the default), or an existing one it is pointed at (E2E_KUBECONFIG).
// Everything else in the suite is the same on both.
type target interface {
	// Kubeconfig is the path of the cluster's kubeconfig.
	Kubeconfig() string
	// DeliverImages makes the built images of names pullable by the nodes
	// under cfg.Images.
	DeliverImages(ctx context.Context, builder *imagebuild.Builder, names []string) error
	// ExportLogs saves the nodes' logs under dir, where the target can.
	ExportLogs(ctx context.Context, dir string) error
	// Close removes what the suite created, unless asked to keep it.
	Close(ctx context.Context) error
}

// upTarget creates (or reuses) the kind cluster, or attaches to the
// existing cluster of cfg.Kubeconfig.
func upTarget(ctx context.Context, cfg framework.Config, log *slog.Logger) (target, error) {
	if cfg.Existing() {
		log.Info("using the existing cluster of E2E_KUBECONFIG: no kind cluster, no node image", "kubeconfig", cfg.Kubeconfig)
		return &existingTarget{cfg: cfg, log: log}, nil
	}
	c, err := cluster.Up(ctx, cluster.Options{
		Name:       cfg.ClusterName,
		K8sVersion: cfg.K8sVersion,
		NodeImage:  cfg.NodeImage,
		Reuse:      cfg.ReuseCluster,
		ImageTag:   cfg.ImageTag,
		RepoRoot:   cfg.RepoRoot,
		Logger:     log,
		// The teardown's place for the nodes' logs: Up saves them itself
		// when the cluster it created fails, since no teardown runs then.
		DiagnosticsDir: filepath.Join(cfg.ArtifactsDir, "diagnostics", "kind"),
	})
	if err != nil {
		return nil, err
	}
	return &kindTarget{cluster: c, keep: cfg.KeepCluster, log: log}, nil
}

// kindTarget is the suite's own kind cluster: images are side-loaded, the
// nodes' logs exported with kind's collector, the cluster deleted at the end.
type kindTarget struct {
	cluster *cluster.Cluster
	keep    bool
	log     *slog.Logger
}

func (k *kindTarget) Kubeconfig() string { return k.cluster.Kubeconfig() }

func (k *kindTarget) DeliverImages(ctx context.Context, builder *imagebuild.Builder, names []string) error {
	refs, err := builder.Present(ctx, names...)
	if err != nil {
		return err
	}
	return k.cluster.LoadImages(ctx, refs...)
}

func (k *kindTarget) ExportLogs(ctx context.Context, dir string) error {
	return k.cluster.ExportLogs(ctx, dir)
}

func (k *kindTarget) Close(ctx context.Context) error {
	if k.keep {
		k.log.Info("keeping the cluster (E2E_KEEP_CLUSTER)", "name", k.cluster.Name, "kubeconfig", k.cluster.Kubeconfig())
		return nil
	}
	if err := cluster.Down(ctx, k.cluster.Name); err != nil {
		return err
	}
	// An engine the suite started goes with the cluster; one that was
	// already running is left alone (Stop is a no-op for it).
	if eng := k.cluster.Engine; eng != nil && eng.Started {
		k.log.Info("stopping the Docker engine the suite started", "pid", eng.PID)
		return eng.Stop(ctx)
	}
	return nil
}

// existingTarget is a cluster the suite did not create: it is never
// changed outside the release's namespace (which the suite's teardown
// removes), and the engine, which may run it, is left alone.
type existingTarget struct {
	cfg framework.Config
	log *slog.Logger
}

func (e *existingTarget) Kubeconfig() string { return e.cfg.Kubeconfig }

func (e *existingTarget) DeliverImages(ctx context.Context, builder *imagebuild.Builder, names []string) error {
	if !e.cfg.Images.Push {
		e.log.Info("images assumed on every node (E2E_IMAGES_PRELOADED)", "example", e.cfg.Images.Ref(names[0], e.cfg.ImageTag))
		return nil
	}
	if _, err := builder.Present(ctx, names...); err != nil {
		return err
	}
	if _, err := builder.Push(ctx, e.cfg.Images.Registry, names...); err != nil {
		return fmt.Errorf("images not delivered to E2E_REGISTRY: %w", err)
	}
	return nil
}

func (e *existingTarget) ExportLogs(context.Context, string) error {
	e.log.Info("no node logs from an existing cluster: the diagnostics hold the release's pods, logs and events")
	return nil
}

// Close has nothing of its own to remove: the namespace goes in the
// suite's teardown, which holds the client.
func (e *existingTarget) Close(context.Context) error { return nil }
