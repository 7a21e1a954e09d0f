package nodeimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
)

// ImageRepo is the repository of the node images this package builds.
const ImageRepo = "flts.local/kind-node"

// Options configures Build.
type Options struct {
	// K8sVersion is one of SupportedK8sVersions (default DefaultK8sVersion).
	K8sVersion string
	// CacheDir holds generated modules, binaries and build contexts
	// (default <RepoRoot>/_cache/nodeimage).
	CacheDir string
	// RepoRoot is the module root (kind module lookup, pause source).
	RepoRoot string
	// Runner runs every command the build needs; nil is execx.Host.
	Runner execx.Runner
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

type builder struct {
	opts        Options
	log         *slog.Logger
	run         execx.Runner
	kindFiles   string
	kindVersion string
	mirror      string
}

// Ref is the node image reference for a Kubernetes version.
func Ref(version string) string { return ImageRepo + ":" + version }

// BuildBase builds (or finds cached) only the Debian base image.
func BuildBase(ctx context.Context, opts Options) (string, error) {
	b, err := newBuilder(ctx, &opts)
	if err != nil {
		return "", err
	}
	return b.ensureBase(ctx)
}

func newBuilder(ctx context.Context, opts *Options) (*builder, error) {
	var err error
	if opts.RepoRoot == "" {
		return nil, errors.New("nodeimage: RepoRoot is required")
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(opts.RepoRoot, "_cache", "nodeimage")
	}
	if opts.CacheDir, err = filepath.Abs(opts.CacheDir); err != nil {
		return nil, fmt.Errorf("failed to resolve cache dir: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create cache dir: %w", err)
	}
	b := &builder{opts: *opts, log: opts.Logger, run: execx.OrHost(opts.Runner), mirror: DebianMirror()}
	if b.kindFiles, b.kindVersion, err = kindBaseFiles(ctx, b.run, opts.RepoRoot); err != nil {
		return nil, err
	}
	return b, nil
}

// Lookup returns the node image for opts.K8sVersion when one built from the
// current inputs exists, and an error naming the command that builds it
// otherwise. It compiles nothing: the suite and the cluster check use it so
// no build ever runs under a test's deadline.
func Lookup(ctx context.Context, opts Options) (string, error) {
	return lookup(ctx, opts, func(b *builder, version string) (string, string, error) {
		key, err := b.key(version)
		return Ref(version), key, err
	})
}

// lookup finds the image keyOf names for opts' version, current or not.
func lookup(ctx context.Context, opts Options, keyOf func(b *builder, version string) (ref, key string, err error)) (string, error) {
	version, err := ValidateK8sVersion(opts.K8sVersion)
	if err != nil {
		return "", err
	}
	b, err := newBuilder(ctx, &opts)
	if err != nil {
		return "", err
	}
	ref, key, err := keyOf(b, version)
	if err != nil {
		return "", err
	}
	switch have := b.imageKey(ctx, ref); have {
	case key:
		return ref, nil
	case "":
		return "", fmt.Errorf("image %s is missing: build it with `make node-image K8S_VERSION=%s` (make e2e does)", ref, version)
	default:
		return "", fmt.Errorf("image %s is stale (cache key %s, sources say %s; built for another Kubernetes version or from older sources): rebuild it with `make node-image K8S_VERSION=%s`",
			ref, have, key, version)
	}
}

// key is the node image's content key for version.
func (b *builder) key(version string) (string, error) {
	baseKey, err := b.baseKey()
	if err != nil {
		return "", err
	}
	inputs, err := nodeInputsFor(version, baseKey)
	if err != nil {
		return "", err
	}
	return b.nodeKey(inputs)
}

// Build returns a node image for opts.K8sVersion, building whatever is not
// cached yet. It has no deadline of its own (ctx is the caller's, for
// Ctrl-C); each step logs a heartbeat instead.
func Build(ctx context.Context, opts Options) (string, error) {
	version, err := ValidateK8sVersion(opts.K8sVersion)
	if err != nil {
		return "", err
	}
	start := time.Now()
	b, err := newBuilder(ctx, &opts)
	if err != nil {
		return "", err
	}
	key, err := b.key(version)
	if err != nil {
		return "", err
	}
	inputs, err := nodeInputsFor(version, "")
	if err != nil {
		return "", err
	}
	ref := Ref(version)
	if b.imageKey(ctx, ref) == key {
		b.log.Info("node image cached", "ref", ref, "key", key, "elapsed", time.Since(start).Round(time.Millisecond))
		// metrics-server is built with the node image but kept as an image
		// of its own: another version's build may have replaced it.
		if _, err := BuildMetricsServer(ctx, opts); err != nil {
			return "", err
		}
		return ref, nil
	}
	b.log.Info("building node image", "ref", ref, "key", key)
	// debootstrap waits on the Debian mirror and dpkg while the Kubernetes
	// compile keeps both cores busy: run them side by side. A failed base
	// stops the compile; a failed compile lets the base finish (it is
	// cached for the retry, and a killed debootstrap would leave its
	// proc and sys mounts behind in the root file system).
	k8sCtx, cancelK8s := context.WithCancel(ctx)
	defer cancelK8s()
	type baseResult struct {
		ref string
		err error
	}
	baseDone := make(chan baseResult, 1)
	go func() {
		ref, err := b.ensureBase(ctx)
		if err != nil {
			cancelK8s()
		}
		baseDone <- baseResult{ref, err}
	}()
	built, k8sErr := b.buildKubernetes(k8sCtx, version, inputs.Crictl, nil)
	base := <-baseDone
	if base.err != nil {
		return "", base.err
	}
	if k8sErr != nil {
		return "", k8sErr
	}
	baseRef, k8sBin, crictlBin := base.ref, built.binDir, built.crictl
	if crictlBin == "" {
		if crictlBin, err = b.buildCrictl(ctx, inputs.Crictl); err != nil {
			return "", err
		}
	}
	listCmd := execx.Command(filepath.Join(k8sBin, "kubeadm"), "config", "images", "list", "--kubernetes-version", version)
	out, err := b.run.Output(ctx, listCmd)
	if err != nil {
		return "", fmt.Errorf("failed to list kubeadm images: %w", err)
	}
	imgs, err := ParseKubeadmImages(out)
	if err != nil {
		return "", err
	}
	b.log.Info("kubeadm images", "images", strings.Join(imgs.All(), " "))
	if Tag(imgs.Etcd) != built.etcdTag {
		return "", fmt.Errorf("kubeadm %s lists etcd %s, but etcd was built for %s (kubeadm's DefaultEtcdVersion)", version, imgs.Etcd, built.etcdTag)
	}
	if err := b.buildComponentImages(ctx, version, k8sBin, baseRef, key, imgs); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(k8sBin, "metrics-server")); err != nil {
		// Not in this release's graph (see MetricsServerFits).
		if err := b.buildMetricsServerStandalone(ctx, k8sBin); err != nil {
			return "", err
		}
	}
	if err := b.buildMetricsServerImage(ctx, version, k8sBin); err != nil {
		return "", err
	}
	if err := b.assemble(ctx, ref, key, version, baseRef, k8sBin, crictlBin, append(imgs.All(), SandboxImage)); err != nil {
		return "", err
	}
	b.log.Info("node image built", "ref", ref, "elapsed", time.Since(start).Round(time.Second))
	return ref, nil
}

// nodeInputs are the versioned inputs of a node image.
type nodeInputs struct {
	Base   string // base image content key
	K8s    string // Kubernetes version
	Crictl string // cri-tools version
}

func nodeInputsFor(version, baseKey string) (nodeInputs, error) {
	crictl, err := CrictlVersion(version)
	if err != nil {
		return nodeInputs{}, err
	}
	return nodeInputs{Base: baseKey, K8s: version, Crictl: crictl}, nil
}

// nodeKey covers every input of the node image: the base key, the
// Kubernetes and crictl versions, the builder's own sources and the pause
// program.
func (b *builder) nodeKey(in nodeInputs) (string, error) {
	k := newKey()
	k.add("base", in.Base)
	k.add("k8s", in.K8s)
	k.add("crictl", CrictlPackage+"@"+in.Crictl)
	k.add("cni", CNIConflist)
	// The builder and how it compiles (tools/gobuild: flags, environment).
	for _, dir := range []string{"nodeimage", "gobuild"} {
		if err := k.addFiles(dir, filepath.Join(b.opts.RepoRoot, "tools", dir), sourceFile); err != nil {
			return "", fmt.Errorf("failed to hash builder sources: %w", err)
		}
	}
	if err := k.addFiles("pause", filepath.Join(b.opts.RepoRoot, "images", "pause"), nil); err != nil {
		return "", fmt.Errorf("failed to hash pause sources: %w", err)
	}
	return k.sum(), nil
}

// imageKey returns the cache-key label of an image, "" when absent.
func (b *builder) imageKey(ctx context.Context, ref string) string {
	out, err := b.run.Output(ctx, execx.Command("docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref))
	if err != nil {
		return ""
	}
	var labels map[string]string
	if json.Unmarshal([]byte(out), &labels) != nil {
		return ""
	}
	return labels[CacheKeyLabel]
}
