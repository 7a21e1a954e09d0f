package nodeimage

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flts/flts-e2e/tools/gobuild"
)

// CrictlPackage is the crictl main package; kind's base image ships the same
// binary from cri-tools, and `kind export logs` runs `crictl images` in the
// node.
const CrictlPackage = CrictlModule + "/cmd/crictl"

// CrictlModule is cri-tools' module.
const CrictlModule = "sigs.k8s.io/cri-tools"

// crictlTracks reports whether the crictl release is of the Kubernetes
// version's own minor: then it builds against that Kubernetes' libraries,
// inside the Kubernetes build. An older Kubernetes with a newer crictl
// builds it alone, against cri-tools' own go.mod.
func crictlTracks(k8s, crictl string) (bool, error) {
	_, kMinor, _, err := splitVersion(k8s)
	if err != nil {
		return false, err
	}
	_, cMinor, _, err := splitVersion(crictl)
	if err != nil {
		return false, fmt.Errorf("bad crictl version %q: %w", crictl, err)
	}
	return kMinor == cMinor, nil
}

// crictlVersionVar is stamped the way cri-tools' Makefile does it, so
// `crictl --version` names the release instead of "unknown".
const crictlVersionVar = "sigs.k8s.io/cri-tools/pkg/version.Version"

// CrictlVersion returns the cri-tools release installed in the node for a
// Kubernetes version. cri-tools releases track Kubernetes minors, but the
// module proxy reachable from the project machines serves only v1.34.0 and
// v1.37.0 (v1.32.x and v1.33.x answer 403), so 1.32 and 1.33 use v1.34.0:
// crictl talks CRI v1, which every supported kubelet and containerd speak,
// and cri-tools documents newer crictl against older runtimes as supported.
func CrictlVersion(k8s string) (string, error) {
	major, minor, _, err := splitVersion(k8s)
	if err != nil {
		return "", err
	}
	if major != "1" {
		return "", fmt.Errorf("unexpected Kubernetes major version in %q", k8s)
	}
	switch minor {
	case "32", "33", "34":
		return "v1.34.0", nil
	default:
		return "", fmt.Errorf("no crictl version pinned for Kubernetes %s", k8s)
	}
}

// CrictlLDFlags strips the binary and stamps its version.
func CrictlLDFlags(version string) string {
	return "-s -w -X " + crictlVersionVar + "=" + version
}

// buildCrictl installs a static crictl at version into a per-version bin
// directory and returns the binary's path. `go install pkg@version` builds
// it against cri-tools' own go.mod, so no wrapper module is needed.
func (b *builder) buildCrictl(ctx context.Context, version string) (string, error) {
	binDir := filepath.Join(b.opts.CacheDir, "crictl-bin", version)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", binDir, err)
	}
	err := gobuild.Run(ctx, b.log, gobuild.Build{
		Runner: b.run,
		What:   "crictl " + version, Install: true,
		// Outside any module so the repository's go.mod plays no part;
		// GOFLAGS is cleared because -mod is not allowed with @version.
		Dir:      binDir,
		Env:      append([]string{"GOFLAGS=", "GOBIN=" + binDir}, gobuild.StaticEnv...),
		Flags:    []string{"-trimpath", "-ldflags", CrictlLDFlags(version)},
		Packages: []string{CrictlPackage + "@" + version},
	})
	if err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "crictl")
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// checkStatic fails when path is a dynamically linked ELF executable: with
// CGO_ENABLED=0 it must not depend on the node's libc or loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("failed to read %s as ELF: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s is dynamically linked, want a static binary", path)
		}
	}
	return nil
}
