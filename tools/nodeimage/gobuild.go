package nodeimage

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/gobuild"
)

// KubernetesCommands are the k8s.io/kubernetes commands built from source.
var KubernetesCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// moduleInfo is what `go mod download -json` prints.
type moduleInfo struct {
	Path, Version, GoMod, Info, Dir, Error string
}

func downloadModule(ctx context.Context, dir, mod string) (moduleInfo, error) {
	cmd := execx.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = dir
	out, err := cmd.Output(ctx)
	var info moduleInfo
	if jerr := json.Unmarshal([]byte(out), &info); jerr != nil {
		if err != nil {
			return info, fmt.Errorf("failed to download %s: %w", mod, err)
		}
		return info, fmt.Errorf("failed to decode go mod download output for %s: %w", mod, jerr)
	}
	if info.Error != "" {
		return info, fmt.Errorf("failed to download %s: %s", mod, info.Error)
	}
	if err != nil {
		return info, fmt.Errorf("failed to download %s: %w", mod, err)
	}
	return info, nil
}

// StagingReplaces parses k8s.io/kubernetes's go.mod and returns, for every
// replace into ./staging/, the module path. The wrapper module replaces each
// with the published staging module at the matching v0.X.Y version.
func StagingReplaces(gomod string) []string {
	var mods []string
	sc := bufio.NewScanner(strings.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "replace ")
		left, right, ok := strings.Cut(line, "=>")
		if !ok || !strings.HasPrefix(strings.TrimSpace(right), "./staging/") {
			continue
		}
		if f := strings.Fields(left); len(f) >= 1 {
			mods = append(mods, f[0])
		}
	}
	return mods
}

// GoDirective returns the go directive of a go.mod ("1.24.0"), or "".
func GoDirective(gomod string) string {
	sc := bufio.NewScanner(strings.NewReader(gomod))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// KubernetesWrapperGoMod renders the wrapper module that builds
// k8s.io/kubernetes at version from the module proxy.
func KubernetesWrapperGoMod(version, kubernetesGoMod string) (string, error) {
	staging, err := stagingVersion(version)
	if err != nil {
		return "", err
	}
	mods := StagingReplaces(kubernetesGoMod)
	if len(mods) == 0 {
		return "", fmt.Errorf("found no ./staging replace directives in k8s.io/kubernetes %s go.mod", version)
	}
	goVer := GoDirective(kubernetesGoMod)
	if goVer == "" {
		goVer = "1.24.0"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module flts.local/k8sbuild\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", goVer, version)
	for _, m := range mods {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, staging)
	}
	b.WriteString(")\n")
	return b.String(), nil
}

// VersionLDFlags stamps the version into component-base and client-go the
// way the Kubernetes release build does. buildDate is the module's
// publication time so the link output is reproducible.
func VersionLDFlags(version, buildDate string) (string, error) {
	major, minor, _, err := splitVersion(version)
	if err != nil {
		return "", err
	}
	var parts []string
	parts = append(parts, "-s", "-w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		parts = append(parts,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
			"-X", pkg+".buildDate="+buildDate)
	}
	return strings.Join(parts, " "), nil
}

// buildKubernetes compiles the Kubernetes commands into a per-version bin
// directory and returns it. One `go build` for all of them shares the
// package graph (each package compiles once); the Go build cache makes a
// repeat take seconds.
func (b *builder) buildKubernetes(ctx context.Context, version string) (string, error) {
	srcDir := filepath.Join(b.opts.CacheDir, "k8s-src", version)
	binDir := filepath.Join(b.opts.CacheDir, "k8s-bin", version)
	for _, d := range []string{srcDir, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("failed to create %s: %w", d, err)
		}
	}
	info, err := downloadModule(ctx, b.opts.RepoRoot, "k8s.io/kubernetes@"+version)
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return "", fmt.Errorf("failed to read k8s.io/kubernetes go.mod: %w", err)
	}
	wrapper, err := KubernetesWrapperGoMod(version, string(gomod))
	if err != nil {
		return "", err
	}
	if err := writeIfChanged(filepath.Join(srcDir, "go.mod"), wrapper); err != nil {
		return "", err
	}
	buildDate, err := publicationTime(info.Info)
	if err != nil {
		return "", err
	}
	ld, err := VersionLDFlags(version, buildDate)
	if err != nil {
		return "", err
	}
	pkgs := make([]string, 0, len(KubernetesCommands))
	for _, c := range KubernetesCommands {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+c)
	}
	err = gobuild.Run(ctx, b.log, gobuild.Build{
		What: "kubernetes " + version, Dir: srcDir, Env: append([]string{"GOFLAGS=-mod=mod"}, gobuild.StaticEnv...),
		Flags: []string{"-trimpath", "-ldflags", ld, "-o", binDir + "/"}, Packages: pkgs,
	})
	if err != nil {
		return "", err
	}
	return binDir, nil
}

func publicationTime(infoPath string) (string, error) {
	data, err := os.ReadFile(infoPath)
	if err != nil {
		return "", fmt.Errorf("failed to read module info: %w", err)
	}
	var info struct{ Time string }
	if err := json.Unmarshal(data, &info); err != nil || info.Time == "" {
		return "", fmt.Errorf("failed to read the publication time from %s: %v", infoPath, err)
	}
	return info.Time, nil
}

// wrapperMain is a generated main package built in a module of its own, so
// the third-party server builds against exactly the version asked for.
type wrapperMain struct {
	name    string // binary name and module directory
	require string // module@version
	source  string // main.go
}

// buildWrapperMain builds a generated one-file main into binDir/name.
func (b *builder) buildWrapperMain(ctx context.Context, w wrapperMain, binDir string) (string, error) {
	mod, ver, ok := strings.Cut(w.require, "@")
	if !ok {
		return "", fmt.Errorf("bad module requirement %q", w.require)
	}
	dir := filepath.Join(b.opts.CacheDir, "src", w.name+"-"+ver)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", dir, err)
	}
	gomod := fmt.Sprintf("module flts.local/%s\n\ngo 1.24.0\n\nrequire %s %s\n", w.name, mod, ver)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			return "", fmt.Errorf("failed to write wrapper go.mod: %w", err)
		}
	}
	if err := writeIfChanged(filepath.Join(dir, "main.go"), w.source); err != nil {
		return "", err
	}
	env := append([]string{"GOFLAGS=-mod=mod"}, gobuild.StaticEnv...)
	tidy := &execx.Cmd{Name: "go", Args: []string{"mod", "tidy"}, Dir: dir, Env: env}
	if err := tidy.Run(ctx); err != nil {
		return "", fmt.Errorf("failed to resolve %s: %w", w.require, err)
	}
	out := filepath.Join(binDir, w.name)
	err := gobuild.Run(ctx, b.log, gobuild.Build{
		What: w.name + " " + ver, Dir: dir, Env: env,
		Flags: []string{"-trimpath", "-ldflags=-s -w", "-o", out}, Packages: []string{"."},
	})
	if err != nil {
		return "", err
	}
	return out, nil
}

func writeIfChanged(path, content string) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return nil
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
