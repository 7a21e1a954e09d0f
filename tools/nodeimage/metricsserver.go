package nodeimage

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// metrics-server is built inside the Kubernetes `go build` (buildKubernetes):
// all but about 20 of its 1,300 packages (apiserver, client-go,
// component-base, grpc, protobuf) are Kubernetes' own, so it costs a link
// instead of a second compile of the same graph, and it is built against
// the libraries of the cluster's own Kubernetes release.
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
	built, err := b.buildKubernetes(ctx, version, crictl, []string{MetricsServerPackage})
	if err != nil {
		return "", err
	}
	if err := b.buildMetricsServerImage(ctx, version, built.binDir); err != nil {
		return "", err
	}
	return MetricsServerImage, nil
}
