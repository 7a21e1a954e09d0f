package nodeimage

import (
	"fmt"
	"strings"
)

// DefaultK8sVersion is the Kubernetes version built when none is asked for.
const DefaultK8sVersion = "v1.34.4"

// SupportedK8sVersions are the k8s.io/kubernetes versions that were built
// here and passed the whole suite (cgroup v1, Debian bookworm's containerd
// 1.6). Two earlier entries were dropped on 2026-11-28 after the first
// attempt to prove them:
//   - v1.32.13 cannot be built from the module proxy: it serves no
//     k8s.io/endpointslice v0.32.13 (403), a staging module Kubernetes
//     needs.
//   - v1.33.13 builds, but its kube-apiserver never reaches etcd at
//     `kubeadm init` ("error creating storage factory: context deadline
//     exceeded"). The lead: etcd's server, built in the same module graph,
//     raises the apiserver's etcd client to v3.5.24 on Kubernetes' pinned
//     grpc v1.68.1.
var SupportedK8sVersions = []string{"v1.34.4"}

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
