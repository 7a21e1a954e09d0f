// Package reporoot finds the flts-e2e module root that the tools read
// fixtures, images and caches from. It is the tools' only way to locate
// the checkout, so every CLI agrees on it whatever directory it runs in.
package reporoot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// ModulePath is the module the root's go.mod declares.
const ModulePath = "github.com/flts/flts-e2e"

// Find walks up from the working directory to the flts-e2e module root.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to get working directory: %w", err)
	}
	return FindFrom(dir)
}

// FindFrom walks up from dir to the flts-e2e module root.
func FindFrom(dir string) (string, error) {
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modfile.ModulePath(data) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("failed to find the " + ModulePath + " module root above the working directory")
		}
		dir = parent
	}
}

// ArtifactsDir is where JUnit, reports and diagnostics go, given the value
// of $ARTIFACTS: that directory (relative to root when relative), or
// <root>/_artifacts when empty. make, the suite, its reporters, the
// cluster check and flts-fresh all resolve it here, so a relative value
// never splits them.
func ArtifactsDir(root, artifactsEnv string) string {
	switch {
	case artifactsEnv == "":
		return filepath.Join(root, "_artifacts")
	case filepath.IsAbs(artifactsEnv):
		return artifactsEnv
	default:
		return filepath.Join(root, artifactsEnv)
	}
}
