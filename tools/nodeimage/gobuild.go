package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/gobuild"
)

// KubernetesCommands are the k8s.io/kubernetes commands built from source.
var KubernetesCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// moduleInfo is what `go mod download -json` prints.
type moduleInfo struct {
	Path, Version, GoMod, Info, Dir, Error string
}

func downloadModule(ctx context.Context, run execx.Runner, dir, mod string) (moduleInfo, error) {
	cmd := execx.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = dir
	out, err := run.Output(ctx, cmd)
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

// KubernetesWrapperGoMod renders the wrapper module that builds
// k8s.io/kubernetes at version from the module proxy, together with the
// extra modules the node needs (etcd's server, metrics-server, cri-tools).
// Each of Kubernetes' ./staging replaces becomes the published staging
// module at the matching v0.X.Y version. With extras, every other module
// Kubernetes requires is pinned to Kubernetes' own version, so building
// them in one graph cannot move Kubernetes' dependencies; go.etcd.io is
// left free, since etcd's server brings its own patch release of the client
// libraries Kubernetes uses.
func KubernetesWrapperGoMod(version, kubernetesGoMod string, extra []module.Version) (string, error) {
	staging, err := stagingVersion(version)
	if err != nil {
		return "", err
	}
	k8s, err := modfile.Parse("go.mod", []byte(kubernetesGoMod), nil)
	if err != nil {
		return "", fmt.Errorf("failed to parse k8s.io/kubernetes %s go.mod: %w", version, err)
	}
	isStaging := map[string]bool{}
	for _, r := range k8s.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			isStaging[r.Old.Path] = true
		}
	}
	if len(isStaging) == 0 {
		return "", fmt.Errorf("found no ./staging replace directives in k8s.io/kubernetes %s go.mod", version)
	}
	goVer := "1.24.0"
	if k8s.Go != nil {
		goVer = k8s.Go.Version
	}
	w := new(modfile.File)
	for _, step := range []error{
		w.AddModuleStmt("flts.local/k8sbuild"),
		w.AddGoStmt(goVer),
		w.AddRequire("k8s.io/kubernetes", version),
	} {
		if step != nil {
			return "", fmt.Errorf("failed to render the wrapper go.mod: %w", step)
		}
	}
	for _, m := range extra {
		w.AddNewRequire(m.Path, m.Version, false)
	}
	var replaces []module.Version
	for _, p := range slices.Sorted(maps.Keys(isStaging)) {
		replaces = append(replaces, module.Version{Path: p, Version: staging})
	}
	if len(extra) > 0 {
		for _, r := range k8s.Require {
			if !isStaging[r.Mod.Path] && !strings.HasPrefix(r.Mod.Path, "go.etcd.io/") {
				replaces = append(replaces, r.Mod)
			}
		}
	}
	// One replace block (File.AddReplace would write a statement per line).
	block := &modfile.LineBlock{Token: []string{"replace"}}
	for _, r := range replaces {
		block.Line = append(block.Line, &modfile.Line{InBlock: true,
			Token: []string{modfile.AutoQuote(r.Path), "=>", modfile.AutoQuote(r.Path), r.Version}})
	}
	w.Syntax.Stmt = append(w.Syntax.Stmt, block)
	out := modfile.Format(w.Syntax)
	if _, err := modfile.Parse("go.mod", out, nil); err != nil {
		return "", fmt.Errorf("rendered an invalid wrapper go.mod: %w", err)
	}
	return string(out), nil
}

// KubeadmEtcdVersion reads kubeadm's default etcd image tag ("3.6.5-0")
// from the Kubernetes module source, so etcd can be built with Kubernetes
// before kubeadm exists to list it.
func KubeadmEtcdVersion(kubernetesDir string) (string, error) {
	path := filepath.Join(kubernetesDir, "cmd", "kubeadm", "app", "constants", "constants.go")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("failed to read kubeadm's constants: %w", err)
	}
	m := regexp.MustCompile(`DefaultEtcdVersion\s*=\s*"([^"]+)"`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("found no DefaultEtcdVersion in %s", path)
	}
	return string(m[1]), nil
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

// k8sBuild is what buildKubernetes produced: one bin directory with the
// Kubernetes commands, etcd and, when built with them, crictl.
type k8sBuild struct {
	binDir string
	// etcdTag is kubeadm's etcd image tag the etcd binary was built for.
	etcdTag string
	// crictl is the crictl binary's path, "" when it was not built here.
	crictl string
	// metricsServer says whether metrics-server was built here.
	metricsServer bool
}

// buildKubernetes compiles the Kubernetes commands, etcd, metrics-server
// and (when cri-tools' release tracks this minor) crictl into a per-version
// bin directory in one `go build`: they share one package graph, so
// client-go, grpc, protobuf and the rest compile once instead of once per
// program. The Go build cache makes a repeat take seconds. With only set,
// just those packages are built, in the same module (so the same cached
// packages).
func (b *builder) buildKubernetes(ctx context.Context, version, crictlVersion string, only []string) (k8sBuild, error) {
	srcDir := filepath.Join(b.opts.CacheDir, "k8s-src", version)
	out := k8sBuild{binDir: filepath.Join(b.opts.CacheDir, "k8s-bin", version)}
	for _, d := range []string{srcDir, out.binDir, filepath.Join(srcDir, "etcd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return out, fmt.Errorf("failed to create %s: %w", d, err)
		}
	}
	info, err := downloadModule(ctx, b.run, b.opts.RepoRoot, "k8s.io/kubernetes@"+version)
	if err != nil {
		return out, err
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return out, fmt.Errorf("failed to read k8s.io/kubernetes go.mod: %w", err)
	}
	if out.etcdTag, err = KubeadmEtcdVersion(info.Dir); err != nil {
		return out, err
	}
	etcdVer := EtcdModuleVersion(out.etcdTag)
	etcdMod, etcdPkg := EtcdMainPackage(etcdVer)
	extra := []module.Version{{Path: etcdMod, Version: etcdVer}}
	pkgs := make([]string, 0, len(KubernetesCommands)+3)
	for _, c := range KubernetesCommands {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+c)
	}
	pkgs = append(pkgs, "./etcd")
	msInGraph, err := b.metricsServerInGraph(ctx, version)
	if err != nil {
		return out, err
	}
	if msInGraph {
		extra = append(extra, module.Version{Path: MetricsServerModule, Version: MetricsServerVersion})
		pkgs = append(pkgs, MetricsServerPackage)
		out.metricsServer = true
	} else if only != nil {
		return out, fmt.Errorf("metrics-server %s does not build against Kubernetes %s's libraries", MetricsServerVersion, version)
	}
	sharesCrictl, err := crictlTracks(version, crictlVersion)
	if err != nil {
		return out, err
	}
	if sharesCrictl {
		extra = append(extra, module.Version{Path: CrictlModule, Version: crictlVersion})
		pkgs = append(pkgs, CrictlPackage)
		out.crictl = filepath.Join(out.binDir, "crictl")
	}
	what := "kubernetes " + version + " with etcd " + etcdVer
	if msInGraph {
		what += " and metrics-server " + MetricsServerVersion
	}
	if only != nil {
		pkgs, out.crictl = only, ""
		what = strings.Join(only, " ") + " in the kubernetes " + version + " graph"
	}
	wrapper, err := KubernetesWrapperGoMod(version, string(gomod), extra)
	if err != nil {
		return out, err
	}
	if err := writeIfChanged(filepath.Join(srcDir, "go.mod"), wrapper); err != nil {
		return out, err
	}
	if err := writeIfChanged(filepath.Join(srcDir, "etcd", "main.go"), fmt.Sprintf(etcdMain, etcdPkg)); err != nil {
		return out, err
	}
	buildDate, err := publicationTime(info.Info)
	if err != nil {
		return out, err
	}
	ld, err := VersionLDFlags(version, buildDate)
	if err != nil {
		return out, err
	}
	// crictl's version variable; the other programs have no such symbol
	// and the linker ignores it for them.
	ld += " -X " + crictlVersionVar + "=" + crictlVersion
	err = gobuild.Run(ctx, b.log, gobuild.Build{
		Runner: b.run,
		What:   what, Dir: srcDir, Env: append([]string{"GOFLAGS=-mod=mod"}, gobuild.StaticEnv...),
		Flags: []string{"-trimpath", "-ldflags", ld, "-o", out.binDir + "/"}, Packages: pkgs,
	})
	if err != nil {
		return out, err
	}
	if out.crictl != "" {
		if err := checkStatic(out.crictl); err != nil {
			return out, err
		}
	}
	return out, nil
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
	if err := b.run.Run(ctx, tidy); err != nil {
		return "", fmt.Errorf("failed to resolve %s: %w", w.require, err)
	}
	out := filepath.Join(binDir, w.name)
	err := gobuild.Run(ctx, b.log, gobuild.Build{
		Runner: b.run,
		What:   w.name + " " + ver, Dir: dir, Env: env,
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
