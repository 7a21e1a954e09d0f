package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/e2e-framework/third_party/helm"

	"github.com/flts/flts-e2e/tools/execx"
)

// HelmInput configures NewHelm.
type HelmInput struct {
	RepoRoot   string
	Kubeconfig string
	Namespace  string
	Release    string
}

// Helm runs the helm binary pinned in go.mod against the suite's cluster,
// through e2e-framework's helm manager.
type Helm struct {
	in      HelmInput
	manager *helm.Manager
}

// NewHelm builds helm from the module (seconds when cached) so a focused
// run needs nothing installed beforehand.
func NewHelm(ctx context.Context, in HelmInput) (*Helm, error) {
	if in.RepoRoot == "" || in.Kubeconfig == "" || in.Namespace == "" || in.Release == "" {
		return nil, fmt.Errorf("NewHelm: RepoRoot, Kubeconfig, Namespace and Release are required: %+v", in)
	}
	bin := filepath.Join(in.RepoRoot, "_output", "bin", "helm")
	cmd := execx.Command("go", "build", "-o", bin, "helm.sh/helm/v3/cmd/helm")
	cmd.Dir = in.RepoRoot
	if err := cmd.Run(ctx); err != nil {
		return nil, fmt.Errorf("failed to build helm: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("failed to find built helm: %w", err)
	}
	return &Helm{in: in, manager: helm.New(in.Kubeconfig).WithPath(bin)}, nil
}

// ChartDir is the project's chart.
func (h *Helm) ChartDir() string { return filepath.Join(h.in.RepoRoot, "fixtures", "charts", "flts") }

// UpgradeInstall installs or upgrades the release with extra helm args.
func (h *Helm) UpgradeInstall(ctx context.Context, timeout time.Duration, args ...string) error {
	err := h.manager.RunUpgrade(
		helm.WithContext(ctx),
		helm.WithName(h.in.Release),
		helm.WithChart(h.ChartDir()),
		helm.WithNamespace(h.in.Namespace),
		helm.WithTimeout(timeout.String()),
		helm.WithArgs(append([]string{"--install", "--create-namespace"}, args...)...),
	)
	if err != nil {
		return fmt.Errorf("failed to helm upgrade --install %s: %w", h.in.Release, err)
	}
	return nil
}

// Test runs `helm test` on the release. Without --logs: helm deletes a
// passed test pod and then fails to fetch its logs; a failed pod stays and
// the suite's diagnostics dump collects its logs.
func (h *Helm) Test(ctx context.Context, timeout time.Duration) error {
	err := h.manager.RunTest(
		helm.WithContext(ctx),
		helm.WithName(h.in.Release),
		helm.WithNamespace(h.in.Namespace),
		helm.WithTimeout(timeout.String()),
	)
	if err != nil {
		return fmt.Errorf("failed to helm test %s: %w", h.in.Release, err)
	}
	return nil
}
