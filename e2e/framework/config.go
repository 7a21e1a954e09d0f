package framework

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// LocalRegistry is the registry part of the images `make images` builds
// (flts.local/<component>:<tag>): a name no node can pull from, so the
// images reach a kind cluster by `kind load`.
const LocalRegistry = "flts.local"

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
	// KeepCluster leaves the kind cluster running after the suite; on an
	// existing cluster it keeps the release and its namespace.
	KeepCluster bool
	// ReuseCluster reuses a healthy kind cluster of the same name.
	ReuseCluster bool
	// Kubeconfig, when set, points the suite at an existing cluster: no
	// kind, no node image (E2E_KUBECONFIG).
	Kubeconfig string
	// Images says where the cluster's nodes find the suite's images.
	Images Images
	// Namespace and Release of the FLTS Helm release.
	Namespace string
	Release   string
	// ImageTag tags the pipeline images.
	ImageTag string
	// NodePort is the inference Service's NodePort, mapped to the host by
	// the kind config; 0 on an existing cluster, which allocates one (a
	// fixed port may be taken there).
	NodePort int
	// InferenceURL is where the suite reaches the inference Service from
	// outside the cluster (E2E_INFERENCE_URL). Empty means the kind
	// NodePort on 127.0.0.1, or on an existing cluster the API server's
	// service proxy, the one path every kubeconfig opens.
	InferenceURL string
	// ExtraValues are values files applied after values-e2e.yaml
	// (E2E_VALUES, comma-separated): how a run breaks a feature on purpose
	// (a nonexistent image tag, persistence off) to watch a spec turn red.
	ExtraValues []string
}

// Existing reports whether the suite runs on a cluster it did not create.
func (c Config) Existing() bool { return c.Kubeconfig != "" }

// InferenceViaAPIServer reports whether the suite reaches the inference
// Service through the API server's service proxy (an existing cluster
// without E2E_INFERENCE_URL), which picks the pod per request.
func (c Config) InferenceViaAPIServer() bool { return c.Existing() && c.InferenceURL == "" }

// Images is how the suite's images reach the cluster's nodes.
type Images struct {
	// Registry prefixes every image: <Registry>/<component>:<tag>.
	Registry string
	// PullPolicy of every pod running one of them.
	PullPolicy corev1.PullPolicy
	// Push: the suite pushes the locally built images to Registry before
	// installing (E2E_REGISTRY). Otherwise a kind cluster gets them by
	// `kind load`, and an existing one has them already
	// (E2E_IMAGES_PRELOADED).
	Push bool
}

// Ref is the reference pods use for component at tag.
func (i Images) Ref(component, tag string) string {
	return fmt.Sprintf("%s/%s:%s", i.Registry, component, tag)
}

// ConfigFromEnv reads the suite configuration; repoRoot is the module root.
// A set but invalid variable (E2E_KEEP_CLUSTER=maybe), or variables that
// contradict each other, are an error.
func ConfigFromEnv(repoRoot string) (Config, error) {
	return configFrom(config.NewEnv(nil), repoRoot)
}

func configFrom(env *config.Env, repoRoot string) (Config, error) {
	c := Config{
		RepoRoot:     repoRoot,
		ArtifactsDir: reporoot.ArtifactsDir(repoRoot, env.String("ARTIFACTS", "")),
		ClusterName:  env.String("CLUSTER_NAME", "flts-e2e"),
		K8sVersion:   env.String("K8S_VERSION", "v1.34.4"),
		NodeImage:    env.String("KIND_NODE_IMAGE", ""),
		KeepCluster:  env.Bool("E2E_KEEP_CLUSTER", false),
		ReuseCluster: env.Bool("E2E_REUSE_CLUSTER", false),
		Kubeconfig:   env.String("E2E_KUBECONFIG", ""),
		Namespace:    env.String("E2E_NAMESPACE", "flts"),
		Release:      "flts",
		ImageTag:     env.String("IMAGE_TAG", "e2e"),
		InferenceURL: strings.TrimSuffix(env.String("E2E_INFERENCE_URL", ""), "/"),
	}
	if c.Kubeconfig != "" && !filepath.IsAbs(c.Kubeconfig) {
		// Relative to where the user ran make (the root), not to e2e/.
		c.Kubeconfig = filepath.Join(repoRoot, c.Kubeconfig)
	}
	registry := strings.TrimSuffix(env.String("E2E_REGISTRY", ""), "/")
	preloaded := env.Bool("E2E_IMAGES_PRELOADED", false)
	for _, f := range strings.Split(env.String("E2E_VALUES", ""), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.ExtraValues = append(c.ExtraValues, f)
		}
	}
	if err := env.Err(); err != nil {
		return c, err
	}
	var errs []error
	if !c.Existing() {
		c.NodePort = 30080
		c.Images = Images{Registry: LocalRegistry, PullPolicy: corev1.PullNever}
		for _, v := range []struct {
			name string
			set  bool
		}{{"E2E_REGISTRY", registry != ""}, {"E2E_IMAGES_PRELOADED", preloaded}, {"E2E_INFERENCE_URL", c.InferenceURL != ""}} {
			if v.set {
				errs = append(errs, fmt.Errorf("%s applies to an existing cluster only: set E2E_KUBECONFIG too", v.name))
			}
		}
		return c, errors.Join(errs...)
	}
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		errs = append(errs, fmt.Errorf("E2E_KUBECONFIG: %w", err))
	}
	if strings.Contains(registry, "://") {
		errs = append(errs, fmt.Errorf("E2E_REGISTRY=%q: give host[:port][/path], without a scheme", registry))
	}
	if c.ReuseCluster {
		errs = append(errs, errors.New("E2E_REUSE_CLUSTER is for the suite's kind cluster: unset it with E2E_KUBECONFIG"))
	}
	if c.NodeImage != "" {
		errs = append(errs, errors.New("KIND_NODE_IMAGE is for the suite's kind cluster: unset it with E2E_KUBECONFIG"))
	}
	switch {
	case registry != "" && preloaded:
		errs = append(errs, errors.New("set one of E2E_REGISTRY and E2E_IMAGES_PRELOADED, not both"))
	case registry != "":
		// A tag is pushed again by every run: a node must not keep
		// running the image it cached from an earlier one.
		c.Images = Images{Registry: registry, PullPolicy: corev1.PullAlways, Push: true}
	case preloaded:
		c.Images = Images{Registry: LocalRegistry, PullPolicy: corev1.PullNever}
	default:
		errs = append(errs, errors.New("E2E_KUBECONFIG needs a way for the images to reach the nodes: "+
			"E2E_REGISTRY=host[:port][/path] (a registry this Docker engine pushes to and the nodes pull from) "+
			"or E2E_IMAGES_PRELOADED=1 (flts.local/<component>:"+c.ImageTag+" already on every node)"))
	}
	return c, errors.Join(errs...)
}
