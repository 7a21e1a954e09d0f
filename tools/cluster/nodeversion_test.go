package cluster

import (
	"strings"
	"testing"
)

func TestCheckNodeImage(t *testing.T) {
	const digest = "@sha256:25a6018e48dfcaee478f4a59af81157a437f15e6e140bf103f85a2e7cd0cbbf2"
	for _, tc := range []struct {
		image, version, wantErr string
	}{
		{"kindest/node:v1.34.0" + digest, "v1.34.4", ""},
		{"kindest/node:v1.34.0", "1.34.4", ""},
		{"registry.local:5000/kindest/node:v1.34.0" + digest, "v1.34.4", ""},
		{"my/node:latest", "v1.34.4", ""},
		{"my/node" + digest, "v1.34.4", ""},
		{"kindest/node:v1.33.4" + digest, "v1.34.4", "runs Kubernetes v1.33.4, but K8S_VERSION is v1.34.4"},
		{"registry.local:5000/node:v1.32.8", "v1.34.4", "runs Kubernetes v1.32.8"},
		{"kindest/node:v1.33.4", "v1.33.13", "supported versions are"},
	} {
		err := CheckNodeImage(tc.image, tc.version)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckNodeImage(%q, %q) = %v, want nil", tc.image, tc.version, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckNodeImage(%q, %q) = %v, want an error containing %q", tc.image, tc.version, err, tc.wantErr)
		}
	}
}
