// Command flts-cluster brings up the project's offline kind cluster.
//
//	flts-cluster up         [-name N] [-k8s-version V] [-node-image REF] [-reuse] [-config F] [-kubeconfig F]
//	flts-cluster down       [-name N]
//	flts-cluster guard
//	flts-cluster load       [-name N] IMAGE...
//	flts-cluster registry   [-name N]
//	flts-cluster registry-down
//
// Environment defaults: K8S_VERSION, KIND_NODE_IMAGE, E2E_REUSE_CLUSTER
// (true/1), CLUSTER_NAME. Exit status 2 means bad usage. The engine and the
// images it needs are flts-images' (`make engine node-image images`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/tools/cluster"
	"github.com/flts/flts-e2e/tools/imagebuild"
	"github.com/flts/flts-e2e/tools/netguard"
	"github.com/flts/flts-e2e/tools/nodeimage"
	"github.com/flts/flts-e2e/tools/reporoot"
)

const usage = `usage: flts-cluster <command> [flags]

commands:
  up          engine, network guard, kind cluster (node image and metrics-server image built first: make cluster), metrics-server; waits until usable
  down        delete the kind cluster (the engine and cached images stay)
  guard       create the kind network and its iptables guard
  load        load local Docker images into the cluster's nodes
  registry    run the registry (flts-images registry) on the kind network at localhost:5001 and point
              the cluster's nodes at it (a cluster created with fixtures/kind/registry-cluster.yaml)
  registry-down  remove the registry container

environment: K8S_VERSION, KIND_NODE_IMAGE, E2E_REUSE_CLUSTER, CLUSTER_NAME
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// needsRoot names, for each command that needs root, what needs it: the
// network guard's iptables rule and starting the engine.
var needsRoot = map[string]string{
	"up":    "it starts the engine if needed and installs the network guard (iptables)",
	"guard": "the network guard is an iptables rule",
}

// errUsage marks bad command lines (exit status 2).
var errUsage = errors.New("bad usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "flts-cluster: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "flts-cluster: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing command", errUsage)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := config.NewEnv(nil)
	name := fs.String("name", env.String("CLUSTER_NAME", cluster.DefaultName), "kind cluster name (env CLUSTER_NAME)")
	var (
		version, nodeImage, config, kubeconfig *string
		reuse                                  *bool
	)
	switch cmd {
	case "up":
		version = fs.String("k8s-version", env.String("K8S_VERSION", nodeimage.DefaultK8sVersion), "Kubernetes version (env K8S_VERSION)")
		defReuse := env.Bool("E2E_REUSE_CLUSTER", false)
		nodeImage = fs.String("node-image", env.String("KIND_NODE_IMAGE", ""), "use this node image instead of the one built by node-image (env KIND_NODE_IMAGE)")
		reuse = fs.Bool("reuse", defReuse, "keep an existing healthy cluster (env E2E_REUSE_CLUSTER)")
		config = fs.String("config", "", "kind config (default fixtures/kind/cluster.yaml)")
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig output (default _cache/flts-cluster/kubeconfig)")
	case "down", "guard", "load", "registry", "registry-down":
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := env.Err(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if cmd != "load" && fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if version != nil {
		// A node image built elsewhere still needs a supported release
		// of its minor: metrics-server is built against it.
		var err error
		if nodeImage != nil && *nodeImage != "" {
			err = cluster.CheckNodeImage(*nodeImage, *version)
		} else {
			_, err = nodeimage.ValidateK8sVersion(*version)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	if why, ok := needsRoot[cmd]; ok && os.Geteuid() != 0 {
		return fmt.Errorf("flts-cluster %s must run as root: %s; run `sudo -E env PATH=\"$PATH\" make e2e` (or the target you ran)", cmd, why)
	}
	root, err := reporoot.Find()
	if err != nil {
		return err
	}
	state := filepath.Join(root, "_cache", "flts-cluster")

	switch cmd {
	case "up":
		c, err := cluster.Up(ctx, cluster.Options{Name: *name, K8sVersion: *version, NodeImage: *nodeImage, Reuse: *reuse,
			ConfigPath: *config, KubeconfigPath: *kubeconfig, StateDir: state, RepoRoot: root, Logger: log,
			ImageTag:       env.String("IMAGE_TAG", "e2e"),
			DiagnosticsDir: filepath.Join(reporoot.ArtifactsDir(root, env.String("ARTIFACTS", "")), "diagnostics", "kind")})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s ready; export KUBECONFIG=%s\n", c.Name, c.Kubeconfig())
	case "down":
		if err := cluster.Down(ctx, *name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s deleted\n", *name)
	case "guard":
		g := netguard.New(log)
		subnet, err := g.EnsureNetwork(ctx, netguard.DefaultSubnet)
		if err != nil {
			return err
		}
		if err := g.Ensure(ctx, subnet); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "kind network %s guarded\n", subnet)
	case "load":
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: load needs at least one image", errUsage)
		}
		c, err := cluster.Attach(*name, cluster.Options{StateDir: state, RepoRoot: root, Logger: log})
		if err != nil {
			return err
		}
		if err := c.LoadImages(ctx, fs.Args()...); err != nil {
			return err
		}
	case "registry":
		c, err := cluster.Attach(*name, cluster.Options{StateDir: state, RepoRoot: root, Logger: log})
		if err != nil {
			return err
		}
		b, err := imagebuild.New(imagebuild.Options{RepoRoot: root, Tag: env.String("IMAGE_TAG", "e2e"), Logger: log})
		if err != nil {
			return err
		}
		refs, err := b.Present(ctx, "registry")
		if err != nil {
			return err
		}
		if err := cluster.StartRegistry(ctx, log, refs[0]); err != nil {
			return err
		}
		if err := c.TrustRegistry(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registry up; push to %s (E2E_REGISTRY=%s)\n", cluster.RegistryHostAddr, cluster.RegistryHostAddr)
	case "registry-down":
		if err := cluster.StopRegistry(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "registry removed")
	}
	return nil
}
