package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
}

// ConfigFromEnv reads the suite configuration; repoRoot is the module root.
func ConfigFromEnv(repoRoot string) (Config, error) {
	c := Config{
		RepoRoot:     repoRoot,
		ArtifactsDir: envOr("ARTIFACTS", filepath.Join(repoRoot, "_artifacts")),
		ClusterName:  envOr("CLUSTER_NAME", "flts-e2e"),
		K8sVersion:   envOr("K8S_VERSION", "v1.34.4"),
		NodeImage:    os.Getenv("KIND_NODE_IMAGE"),
		Namespace:    envOr("E2E_NAMESPACE", "flts"),
		Release:      "flts",
		ImageTag:     envOr("IMAGE_TAG", "e2e"),
		NodePort:     30080,
	}
	var err error
	if c.KeepCluster, err = envBool("E2E_KEEP_CLUSTER"); err != nil {
		return c, err
	}
	if c.ReuseCluster, err = envBool("E2E_REUSE_CLUSTER"); err != nil {
		return c, err
	}
	if !filepath.IsAbs(c.ArtifactsDir) {
		c.ArtifactsDir = filepath.Join(repoRoot, c.ArtifactsDir)
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envBool(key string) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean (use 1 or 0): %w", key, v, err)
	}
	return b, nil
}
