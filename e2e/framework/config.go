package framework

import (
	"strings"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// Config is the suite's configuration, read once from the environment.
type Config struct {
	// RepoRoot is the module root (the suite runs from e2e/).
	RepoRoot string
	// ArtifactsDir receives reports, diagnostics and the load-test report.
	ArtifactsDir string
	// ClusterName names the kind cluster.
	ClusterName string
	// K8sVersion selects the node image built from source.
	K8sVersion string
	// NodeImage, when set, is used instead of building a node image.
	NodeImage string
	// KeepCluster leaves the cluster running after the suite.
	KeepCluster bool
	// ReuseCluster reuses a healthy cluster of the same name.
	ReuseCluster bool
	// Namespace and Release of the FLTS Helm release.
	Namespace string
	Release   string
	// ImageTag tags the pipeline images loaded into the cluster.
	ImageTag string
	// NodePort is the inference Service's NodePort, mapped to the host.
	NodePort int
	// ExtraValues are values files applied after values-e2e.yaml
	// (E2E_VALUES, comma-separated): how a run breaks a feature on purpose
	// (a nonexistent image tag, persistence off) to watch a spec turn red.
	ExtraValues []string
}

// ConfigFromEnv reads the suite configuration; repoRoot is the module root.
// A set but invalid variable (E2E_KEEP_CLUSTER=maybe) is an error.
func ConfigFromEnv(repoRoot string) (Config, error) {
	env := config.NewEnv(nil)
	c := Config{
		RepoRoot:     repoRoot,
		ArtifactsDir: reporoot.ArtifactsDir(repoRoot, env.String("ARTIFACTS", "")),
		ClusterName:  env.String("CLUSTER_NAME", "flts-e2e"),
		K8sVersion:   env.String("K8S_VERSION", "v1.34.4"),
		NodeImage:    env.String("KIND_NODE_IMAGE", ""),
		KeepCluster:  env.Bool("E2E_KEEP_CLUSTER", false),
		ReuseCluster: env.Bool("E2E_REUSE_CLUSTER", false),
		Namespace:    env.String("E2E_NAMESPACE", "flts"),
		Release:      "flts",
		ImageTag:     env.String("IMAGE_TAG", "e2e"),
		NodePort:     30080,
	}
	for _, f := range strings.Split(env.String("E2E_VALUES", ""), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.ExtraValues = append(c.ExtraValues, f)
		}
	}
	return c, env.Err()
}
