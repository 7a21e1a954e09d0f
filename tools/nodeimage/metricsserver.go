package nodeimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/flts/flts-e2e/tools/gobuild"
)

// metrics-server is built inside the Kubernetes `go build` (buildKubernetes)
// when that release's libraries are at least as new as the ones it
// requires: all but about 20 of its 1,300 packages (apiserver, client-go,
// component-base, grpc, protobuf) are Kubernetes' own, so it costs a link
// instead of a second compile of the same graph. An older release (v0.8.0
// needs k8s.io v0.33 APIs that v1.32 lacks) gets the standalone build, in
// metrics-server's own module graph.
const (
	// MetricsServerModule and MetricsServerVersion pin the release.
	MetricsServerModule  = "sigs.k8s.io/metrics-server"
	MetricsServerVersion = "v0.8.0"
	// MetricsServerPackage is its main package.
	MetricsServerPackage = MetricsServerModule + "/cmd/metrics-server"
	// MetricsServerImage is the image fixtures/metrics-server names. One
	// tag for every Kubernetes version: the cache key says which release
	// it was built against, and switching versions rebuilds it.
	MetricsServerImage = "flts.local/metrics-server:" + MetricsServerVersion
)

// metricsServerDockerfile runs the static binary as nobody.
const metricsServerDockerfile = "FROM scratch\nCOPY metrics-server /metrics-server\nUSER 65534:65534\nENTRYPOINT [\"/metrics-server\"]\n"

// metricsServerKey covers what the metrics-server image is built from: the
// Kubernetes release whose graph it is compiled in, its own release and the
// builder's sources.
func (b *builder) metricsServerKey(version string) (string, error) {
	k := newKey()
	k.add("k8s", version)
	k.add("metrics-server", MetricsServerModule+"@"+MetricsServerVersion)
	k.add("dockerfile", metricsServerDockerfile)
	for _, dir := range []string{"nodeimage", "gobuild"} {
		if err := k.addFiles(dir, filepath.Join(b.opts.RepoRoot, "tools", dir), sourceFile); err != nil {
			return "", fmt.Errorf("failed to hash builder sources: %w", err)
		}
	}
	return k.sum(), nil
}

// MetricsServerFits reports whether metrics-server can be compiled against
// the Kubernetes release of minor k8sMinor: its go.mod (metricsServerGoMod)
// must not require a newer k8s.io/apiserver.
func MetricsServerFits(metricsServerGoMod string, k8sMinor int) (bool, error) {
	f, err := modfile.ParseLax("go.mod", []byte(metricsServerGoMod), nil)
	if err != nil {
		return false, fmt.Errorf("failed to parse the metrics-server go.mod: %w", err)
	}
	for _, r := range f.Require {
		if r.Mod.Path != "k8s.io/apiserver" {
			continue
		}
		_, minor, _, err := splitVersion(r.Mod.Version)
		if err != nil {
			return false, err
		}
		m, err := strconv.Atoi(minor)
		if err != nil {
			return false, fmt.Errorf("bad k8s.io/apiserver version %q in the metrics-server go.mod", r.Mod.Version)
		}
		return m <= k8sMinor, nil
	}
	return false, errors.New("the metrics-server go.mod requires no k8s.io/apiserver")
}

// metricsServerInGraph downloads metrics-server's go.mod and decides
// whether it builds in version's Kubernetes graph.
func (b *builder) metricsServerInGraph(ctx context.Context, version string) (bool, error) {
	info, err := downloadModule(ctx, b.run, b.opts.RepoRoot, MetricsServerModule+"@"+MetricsServerVersion)
	if err != nil {
		return false, err
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return false, fmt.Errorf("failed to read the metrics-server go.mod: %w", err)
	}
	_, minor, _, err := splitVersion(version)
	if err != nil {
		return false, err
	}
	m, err := strconv.Atoi(minor)
	if err != nil {
		return false, fmt.Errorf("bad Kubernetes version %q", version)
	}
	return MetricsServerFits(string(gomod), m)
}

// buildMetricsServerStandalone builds metrics-server in its own module
// graph into binDir (go install pkg@version, as `go install` users do).
func (b *builder) buildMetricsServerStandalone(ctx context.Context, binDir string) error {
	return gobuild.Run(ctx, b.log, gobuild.Build{
		Runner: b.run,
		What:   "metrics-server " + MetricsServerVersion + " (own module graph)", Install: true,
		Env: append([]string{"GOBIN=" + binDir}, gobuild.StaticEnv...), Flags: []string{"-trimpath", "-ldflags=-s -w"},
		Packages: []string{MetricsServerPackage + "@" + MetricsServerVersion},
	})
}

// buildMetricsServerImage packs the binary buildKubernetes produced.
func (b *builder) buildMetricsServerImage(ctx context.Context, version, binDir string) error {
	key, err := b.metricsServerKey(version)
	if err != nil {
		return err
	}
	return b.dockerBuild(ctx, MetricsServerImage, key, metricsServerDockerfile,
		map[string]string{"metrics-server": filepath.Join(binDir, "metrics-server")})
}

// LookupMetricsServer returns the metrics-server image for opts.K8sVersion
// when one built from the current inputs exists, and an error naming the
// command that builds it otherwise. It compiles nothing.
func LookupMetricsServer(ctx context.Context, opts Options) (string, error) {
	return lookup(ctx, opts, func(b *builder, version string) (string, string, error) {
		key, err := b.metricsServerKey(version)
		return MetricsServerImage, key, err
	})
}

// BuildMetricsServer builds (or finds cached) only the metrics-server
// image, for a cluster on a node image built elsewhere (KIND_NODE_IMAGE).
// It compiles the part of the Kubernetes graph metrics-server needs, in the
// same module as Build, so a later node image build reuses that work.
func BuildMetricsServer(ctx context.Context, opts Options) (string, error) {
	version, err := ValidateK8sVersion(opts.K8sVersion)
	if err != nil {
		return "", err
	}
	start := time.Now()
	b, err := newBuilder(ctx, &opts)
	if err != nil {
		return "", err
	}
	if ref, err := LookupMetricsServer(ctx, opts); err == nil {
		b.log.Info("metrics-server image cached", "ref", ref, "elapsed", time.Since(start).Round(time.Millisecond))
		return ref, nil
	}
	crictl, err := CrictlVersion(version)
	if err != nil {
		return "", err
	}
	inGraph, err := b.metricsServerInGraph(ctx, version)
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(b.opts.CacheDir, "k8s-bin", version)
	if inGraph {
		built, err := b.buildKubernetes(ctx, version, crictl, []string{MetricsServerPackage})
		if err != nil {
			return "", err
		}
		binDir = built.binDir
	} else {
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			return "", fmt.Errorf("failed to create %s: %w", binDir, err)
		}
		if err := b.buildMetricsServerStandalone(ctx, binDir); err != nil {
			return "", err
		}
	}
	if err := b.buildMetricsServerImage(ctx, version, binDir); err != nil {
		return "", err
	}
	return MetricsServerImage, nil
}
