package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"

	"github.com/flts/flts-e2e/tools/engine"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/netguard"
	"github.com/flts/flts-e2e/tools/nodeimage"
	"github.com/flts/flts-e2e/tools/progress"
	"github.com/flts/flts-e2e/tools/reporoot"
)

const (
	// DefaultName is the cluster name used when Options.Name is empty.
	DefaultName = "flts-e2e"
	// DefaultConfigPath is the kind config, relative to the repository root.
	DefaultConfigPath = "fixtures/kind/cluster.yaml"
	// MetricsServerManifest holds the metrics-server objects, relative to
	// the root; it names nodeimage.MetricsServerImage.
	MetricsServerManifest = "fixtures/metrics-server/components.yaml"
)

// Options configures Up.
type Options struct {
	// Name of the kind cluster (default DefaultName).
	Name string
	// K8sVersion of the node image to build (default nodeimage.DefaultK8sVersion).
	K8sVersion string
	// NodeImage, when set, is used as is instead of building one
	// (the CLI reads it from KIND_NODE_IMAGE).
	NodeImage string
	// Reuse keeps an existing healthy cluster of the same name instead of
	// recreating it.
	Reuse bool
	// ConfigPath is the kind config (default <RepoRoot>/fixtures/kind/cluster.yaml).
	ConfigPath string
	// KubeconfigPath receives the cluster's kubeconfig (default <StateDir>/kubeconfig).
	KubeconfigPath string
	// StateDir holds the engine state and kubeconfig (default <RepoRoot>/_cache/flts-cluster).
	StateDir string
	// RepoRoot is the module root (default: found above the working directory).
	RepoRoot string
	// ImageTag tags the storage images built by `make images`
	// (flts.local/local-path-*:<ImageTag>; default "e2e", the Makefile's).
	ImageTag string
	// DiagnosticsDir, when set, receives the nodes' logs (kind's
	// collection) of a cluster that failed to become ready, before it is
	// deleted.
	DiagnosticsDir string
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

// Cluster is a running kind cluster.
type Cluster struct {
	Name       string
	NodeImage  string
	Engine     *engine.Engine
	Subnet     string
	kubeconfig string
	provider   provider
	log        *slog.Logger
	repoRoot   string
}

// Kubeconfig returns the path of the cluster's kubeconfig file.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a client configuration for the cluster.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %s: %w", c.kubeconfig, err)
	}
	return cfg, nil
}

func (o *Options) defaults() error {
	if o.RepoRoot == "" {
		root, err := reporoot.Find()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.ConfigPath == "" {
		o.ConfigPath = filepath.Join(o.RepoRoot, DefaultConfigPath)
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.RepoRoot, "_cache", "flts-cluster")
	}
	if o.KubeconfigPath == "" {
		o.KubeconfigPath = filepath.Join(o.StateDir, "kubeconfig")
	}
	if o.ImageTag == "" {
		o.ImageTag = "e2e"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// stage logs a stage's start, a heartbeat while it runs (installing the
// engine or deleting a cluster can take a minute) and, on Done, its end.
func stage(log *slog.Logger, name string) *progress.Step {
	return progress.Start(log, "stage "+name, 0)
}

// Up brings the cluster up and waits until it is usable.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	total := time.Now()
	log := opts.Logger
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	if opts.NodeImage == "" {
		if _, err := nodeimage.ValidateK8sVersion(opts.K8sVersion); err != nil {
			return nil, err
		}
	} else if err := CheckNodeImage(opts.NodeImage, opts.K8sVersion); err != nil {
		return nil, err
	}

	done := stage(log, "engine")
	defer done.Stop()
	eng, err := engine.Ensure(ctx, engine.Options{StateDir: opts.StateDir, RepoRoot: opts.RepoRoot, Logger: log})
	if err != nil {
		return nil, err
	}
	done.Done()

	done = stage(log, "network guard")
	defer done.Stop()
	guard := netguard.New(log)
	subnet, err := guard.EnsureNetwork(ctx, netguard.DefaultSubnet)
	if err != nil {
		return nil, err
	}
	if err := guard.Ensure(ctx, subnet); err != nil {
		return nil, err
	}
	done.Done()

	// Images are built before any cluster step (`make node-image images`),
	// never here: Up runs under the caller's deadline, a cold build must not.
	image := opts.NodeImage
	if image == "" {
		image, err = nodeimage.Lookup(ctx, nodeimage.Options{K8sVersion: opts.K8sVersion, RepoRoot: opts.RepoRoot, Logger: log})
		if err != nil {
			return nil, err
		}
	}
	// metrics-server is built with the node image, against the cluster's
	// Kubernetes release (`make node-image` builds only it when
	// KIND_NODE_IMAGE names a node image built elsewhere).
	msImage, err := nodeimage.LookupMetricsServer(ctx, nodeimage.Options{K8sVersion: opts.K8sVersion, RepoRoot: opts.RepoRoot, Logger: log})
	if err != nil {
		return nil, err
	}
	storage, err := storageImages(ctx, opts)
	if err != nil {
		return nil, err
	}

	c := &Cluster{Name: opts.Name, NodeImage: image, Engine: eng, Subnet: subnet, kubeconfig: opts.KubeconfigPath,
		provider: newProvider(log), log: log, repoRoot: opts.RepoRoot}
	if err := os.MkdirAll(filepath.Dir(opts.KubeconfigPath), 0o755); err != nil {
		return nil, fmt.Errorf("failed to create kubeconfig dir: %w", err)
	}
	err = c.createOrReuse(ctx, opts, createConfig(cfg, opts.NodeImage != ""), steps{
		healthy: c.healthy,
		ready: func(ctx context.Context) error {
			done := stage(log, "load metrics-server image")
			defer done.Stop()
			if err := c.LoadImages(ctx, msImage); err != nil {
				return err
			}
			done.Done()
			if err := c.waitCore(ctx); err != nil {
				return err
			}
			if err := c.installStorage(ctx, storage); err != nil {
				return err
			}
			if err := c.deployMetricsServer(ctx); err != nil {
				return err
			}
			return c.waitMetrics(ctx)
		},
	})
	if err != nil {
		return nil, err
	}
	log.Info("cluster ready", "name", opts.Name, "kubeconfig", opts.KubeconfigPath, "elapsed", time.Since(total).Round(100*time.Millisecond))
	return c, nil
}

// createConfig is the config a cluster is created from: the file as it is
// for the node image built here, which bakes its CNI (kindnetd cannot be
// pulled offline). A node image built elsewhere (kind's own, through
// KIND_NODE_IMAGE) has no such conflist but carries kindnetd and its
// manifest: kind's default CNI networks it.
func createConfig(cfg *v1alpha4.Cluster, externalImage bool) *v1alpha4.Cluster {
	if !externalImage {
		return cfg
	}
	out := cfg.DeepCopy()
	out.Networking.DisableDefaultCNI = false
	return out
}

// provider is the part of kind's cluster provider that Up uses: the
// kind library in production, a fake in tests of Up's orchestration.
type provider interface {
	List() ([]string, error)
	Create(name string, options ...kindcluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
	ExportKubeConfig(name string, explicitPath string, internal bool) error
	CollectLogs(name, dir string) error
	ListInternalNodes(name string) ([]nodes.Node, error)
}

// steps are the cluster checks createOrReuse runs (against the live
// cluster in production).
type steps struct {
	// healthy reports whether an existing cluster can be reused as is.
	healthy func(ctx context.Context) bool
	// ready finishes a cluster (images, core components, metrics API)
	// and waits until it is usable.
	ready func(ctx context.Context) error
}

// createOrReuse gives c a cluster named opts.Name running c.NodeImage: a
// healthy one reused when opts.Reuse asks for it, otherwise a new one that
// replaces any leftover. When a cluster created here fails to become
// ready, its logs go to opts.DiagnosticsDir first and then it is deleted:
// a failed Up leaves no cluster running. A reused cluster that fails is
// left for the user to inspect (it was not created by this call).
func (c *Cluster) createOrReuse(ctx context.Context, opts Options, cfg *v1alpha4.Cluster, s steps) error {
	log := c.log
	existing, err := c.provider.List()
	if err != nil {
		return fmt.Errorf("failed to list kind clusters: %w", err)
	}
	reused := false
	if slices.Contains(existing, opts.Name) {
		if opts.Reuse {
			if err := c.provider.ExportKubeConfig(opts.Name, opts.KubeconfigPath, false); err == nil && s.healthy(ctx) {
				log.Info("reusing healthy cluster", "name", opts.Name)
				reused = true
			}
		}
		if !reused {
			done := stage(log, "delete leftover cluster "+opts.Name)
			defer done.Stop()
			if err := c.provider.Delete(opts.Name, opts.KubeconfigPath); err != nil {
				return fmt.Errorf("failed to delete leftover cluster %s: %w", opts.Name, err)
			}
			done.Done()
		}
	}
	if !reused {
		if err := CheckPortsFree(HostPorts(cfg)); err != nil {
			return err
		}
		done := stage(log, "kind create cluster")
		defer done.Stop()
		err := c.provider.Create(opts.Name,
			kindcluster.CreateWithV1Alpha4Config(cfg),
			kindcluster.CreateWithNodeImage(c.NodeImage),
			kindcluster.CreateWithKubeconfigPath(opts.KubeconfigPath),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false))
		if err != nil {
			// kind deletes the nodes of a create that failed (unless
			// told to retain them): there is nothing left to clean up.
			return fmt.Errorf("failed to create kind cluster %s with image %s: %w", opts.Name, c.NodeImage, err)
		}
		done.Done()
	}
	readyErr := s.ready(ctx)
	if readyErr == nil {
		return nil
	}
	// The cleanup runs also when ctx was cancelled (Ctrl-C): that is
	// when a cluster is most likely to be left behind.
	cleanupCtx := context.WithoutCancel(ctx)
	if opts.DiagnosticsDir != "" {
		log.Info("saving the cluster's logs", "dir", opts.DiagnosticsDir)
		if err := c.ExportLogs(cleanupCtx, opts.DiagnosticsDir); err != nil {
			log.Warn("kind export logs failed", "err", err)
		}
	}
	if reused {
		return fmt.Errorf("reused cluster %s is not ready (kept for inspection): %w", opts.Name, readyErr)
	}
	log.Info("deleting the cluster that did not become ready", "name", opts.Name)
	if err := c.Delete(cleanupCtx); err != nil {
		return fmt.Errorf("cluster %s did not become ready: %w (and deleting it failed: %v)", opts.Name, readyErr, err)
	}
	return fmt.Errorf("cluster %s did not become ready (deleted it): %w", opts.Name, readyErr)
}

func newProvider(log *slog.Logger) *kindcluster.Provider {
	return kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindLogger{log: log}))
}

// clientset returns a typed client for the cluster.
func (c *Cluster) clientset() (*kubernetes.Clientset, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create client: %w", err)
	}
	return cs, nil
}

// Down deletes the named kind cluster (DefaultName when empty). A missing
// cluster is not an error.
func Down(ctx context.Context, name string) error {
	if name == "" {
		name = DefaultName
	}
	// With no engine answering there is nothing to delete now, and a node
	// container the engine brings back later is deleted by the next Up.
	if err := execx.Command("docker", "info", "--format", "{{.ServerVersion}}").Run(ctx); err != nil {
		return nil
	}
	p := newProvider(slog.New(slog.DiscardHandler))
	existing, err := p.List()
	if err != nil {
		return fmt.Errorf("failed to list kind clusters: %w", err)
	}
	if !slices.Contains(existing, name) {
		return nil
	}
	kubeconfig := ""
	if root, err := reporoot.Find(); err == nil {
		kubeconfig = filepath.Join(root, "_cache", "flts-cluster", "kubeconfig")
	}
	if err := p.Delete(name, kubeconfig); err != nil {
		return fmt.Errorf("failed to delete kind cluster %s: %w", name, err)
	}
	return nil
}

// Delete deletes this cluster.
func (c *Cluster) Delete(ctx context.Context) error {
	if err := c.provider.Delete(c.Name, c.kubeconfig); err != nil {
		return fmt.Errorf("failed to delete kind cluster %s: %w", c.Name, err)
	}
	return nil
}

// ExportLogs writes the nodes' logs (kind's collection: journal, containerd,
// kubelet, pod logs, docker inspect) under dir.
func (c *Cluster) ExportLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create log dir %s: %w", dir, err)
	}
	if err := c.provider.CollectLogs(c.Name, dir); err != nil {
		return fmt.Errorf("failed to export logs of cluster %s: %w", c.Name, err)
	}
	return nil
}

// Attach returns the existing cluster name (DefaultName when empty) without
// changing it, writing its kubeconfig to opts.KubeconfigPath.
func Attach(name string, opts Options) (*Cluster, error) {
	if name != "" {
		opts.Name = name
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	p := newProvider(opts.Logger)
	existing, err := p.List()
	if err != nil {
		return nil, fmt.Errorf("failed to list kind clusters: %w", err)
	}
	if !slices.Contains(existing, opts.Name) {
		return nil, fmt.Errorf("kind cluster %s does not exist (run flts-cluster up)", opts.Name)
	}
	if err := os.MkdirAll(filepath.Dir(opts.KubeconfigPath), 0o755); err != nil {
		return nil, fmt.Errorf("failed to create kubeconfig dir: %w", err)
	}
	if err := p.ExportKubeConfig(opts.Name, opts.KubeconfigPath, false); err != nil {
		return nil, fmt.Errorf("failed to export kubeconfig of %s: %w", opts.Name, err)
	}
	return &Cluster{Name: opts.Name, kubeconfig: opts.KubeconfigPath, provider: p, log: opts.Logger, repoRoot: opts.RepoRoot}, nil
}
