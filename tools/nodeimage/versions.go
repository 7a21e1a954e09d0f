package nodeimage

import (
	"fmt"
	"strings"
)

// DefaultK8sVersion is the Kubernetes version built when none is asked for.
const DefaultK8sVersion = "v1.34.4"

// SupportedK8sVersions are the k8s.io/kubernetes versions the module proxy
// reachable from the project machines serves, and that run on cgroup v1 with
// Debian bookworm's containerd 1.6.
var SupportedK8sVersions = []string{"v1.32.13", "v1.33.13", "v1.34.4"}

// ValidateK8sVersion returns version (defaulted) or a clear error.
func ValidateK8sVersion(version string) (string, error) {
	if version == "" {
		return DefaultK8sVersion, nil
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	for _, v := range SupportedK8sVersions {
		if v == version {
			return v, nil
		}
	}
	return "", fmt.Errorf("unsupported Kubernetes version %q: supported versions are %s", version, strings.Join(SupportedK8sVersions, ", "))
}

// stagingVersion maps v1.X.Y to the published staging module version v0.X.Y.
func stagingVersion(k8s string) (string, error) {
	major, minor, patch, err := splitVersion(k8s)
	if err != nil {
		return "", err
	}
	if major != "1" {
		return "", fmt.Errorf("unexpected Kubernetes major version in %q", k8s)
	}
	return "v0." + minor + "." + patch, nil
}

func splitVersion(v string) (major, minor, patch string, err error) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("failed to parse version %q", v)
	}
	return parts[0], parts[1], parts[2], nil
}
