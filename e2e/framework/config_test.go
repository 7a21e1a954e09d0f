package framework

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flts/flts-e2e/pkg/config"
)

func TestConfigKindByDefault(t *testing.T) {
	c, err := configFrom(config.NewEnv(config.MapEnv(nil)), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	if c.Existing() || c.InferenceViaAPIServer() || c.NodePort != 30080 || c.Images != (Images{Registry: LocalRegistry, PullPolicy: corev1.PullNever}) {
		t.Errorf("kind defaults: got %+v", c)
	}
	if got := c.Images.Ref("inference", c.ImageTag); got != "flts.local/inference:e2e" {
		t.Errorf("Ref = %s", got)
	}
}

// kubeconfig writes an (empty) kubeconfig under a temporary repository root.
func kubeconfig(t *testing.T) (root, path string) {
	t.Helper()
	root = t.TempDir()
	path = filepath.Join(root, "kubeconfig")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return root, path
}

func TestConfigExistingCluster(t *testing.T) {
	root, kc := kubeconfig(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Images
	}{
		{"registry", map[string]string{"E2E_KUBECONFIG": kc, "E2E_REGISTRY": "localhost:5001/flts/"},
			Images{Registry: "localhost:5001/flts", PullPolicy: corev1.PullAlways, Push: true}},
		{"preloaded relative to the root", map[string]string{"E2E_KUBECONFIG": "kubeconfig", "E2E_IMAGES_PRELOADED": "1"},
			Images{Registry: LocalRegistry, PullPolicy: corev1.PullNever}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configFrom(config.NewEnv(config.MapEnv(tc.env)), root)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Existing() || !c.InferenceViaAPIServer() || c.Kubeconfig != kc || c.NodePort != 0 || c.Images != tc.want {
				t.Errorf("got %+v, want images %+v and an allocated NodePort", c, tc.want)
			}
		})
	}
}

func TestConfigRejectsContradictions(t *testing.T) {
	root, kc := kubeconfig(t)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"E2E_REGISTRY": "r:5000"}, "E2E_REGISTRY applies to an existing cluster only"},
		{map[string]string{"E2E_INFERENCE_URL": "http://x"}, "E2E_INFERENCE_URL applies to an existing cluster only"},
		{map[string]string{"E2E_KUBECONFIG": kc}, "E2E_KUBECONFIG needs a way for the images to reach the nodes"},
		{map[string]string{"E2E_KUBECONFIG": kc, "E2E_REGISTRY": "r", "E2E_IMAGES_PRELOADED": "1"}, "not both"},
		{map[string]string{"E2E_KUBECONFIG": kc, "E2E_REGISTRY": "r", "E2E_REUSE_CLUSTER": "1"}, "E2E_REUSE_CLUSTER is for the suite's kind cluster"},
		{map[string]string{"E2E_KUBECONFIG": kc, "E2E_REGISTRY": "r", "KIND_NODE_IMAGE": "kindest/node:v1.34.0"}, "KIND_NODE_IMAGE is for the suite's kind cluster"},
		{map[string]string{"E2E_IMAGES_PRELOADED": "maybe"}, "E2E_IMAGES_PRELOADED"},
		{map[string]string{"E2E_KUBECONFIG": "missing", "E2E_IMAGES_PRELOADED": "1"}, "E2E_KUBECONFIG: stat " + filepath.Join(root, "missing")},
		{map[string]string{"E2E_KUBECONFIG": kc, "E2E_REGISTRY": "http://r:5000"}, "without a scheme"},
	} {
		_, err := configFrom(config.NewEnv(config.MapEnv(tc.env)), root)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got error %v, want one containing %q", tc.env, err, tc.want)
		}
	}
}
