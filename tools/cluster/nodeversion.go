package cluster

import (
	"fmt"
	"strings"

	"github.com/flts/flts-e2e/tools/nodeimage"
)

// CheckNodeImage checks a node image built elsewhere (KIND_NODE_IMAGE)
// against the supported release it stands for: metrics-server is built
// against k8sVersion's libraries and the suite reports k8sVersion, so the
// image must run the same minor. kind's images are tagged by the release
// they run (kindest/node:v1.33.4@sha256:…); an image whose tag names no
// release is the user's own and is taken as is.
func CheckNodeImage(image, k8sVersion string) error {
	want, err := nodeimage.ValidateK8sVersion(k8sVersion)
	if err != nil {
		return err
	}
	tag := tagOf(image)
	if !isRelease(tag) {
		return nil
	}
	if minorOf(tag) != minorOf(want) {
		return fmt.Errorf("node image %s runs Kubernetes %s, but K8S_VERSION is %s: set K8S_VERSION to the supported release of the image's minor (%s)",
			image, tag, want, strings.Join(nodeimage.SupportedK8sVersions, ", "))
	}
	return nil
}

// tagOf returns the tag of an image reference ("" when it has none).
func tagOf(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	// A registry host may carry a port: the tag follows the last colon
	// after the last slash.
	name := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, _ := strings.Cut(name, ":")
	return tag
}

// isRelease tells a vMAJOR.MINOR.PATCH tag.
func isRelease(tag string) bool {
	parts := strings.Split(strings.TrimPrefix(tag, "v"), ".")
	if !strings.HasPrefix(tag, "v") || len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// minorOf returns "vMAJOR.MINOR" of a release.
func minorOf(release string) string {
	return release[:strings.LastIndex(release, ".")]
}
