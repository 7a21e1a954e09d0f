// Command flts-images builds the images the suite runs, the Docker engine
// they are built in first, and carries them to another machine.
//
//	flts-images [--tag e2e] [--registry flts.local] [name ...]   build images/<name> (default: the suite's images)
//	flts-images engine                                           start (installing it if missing) a Docker engine able to run kind's nodes
//	flts-images node-image [--k8s-version V] [--base-only | --metrics-server-only]
//	                                                             the offline kind node image and the metrics-server image built with it
//	flts-images save [--k8s-version V] FILE                      write every image the suite needs, node image included, to FILE
//	flts-images load FILE                                        load a bundle written by save
//
// It links no kind or client-go, so it compiles in seconds and the long
// builds start at once; the cluster CLI (flts-cluster) compiles beside them.
// Images keep their content-key labels in a bundle, so after `load` the
// builders find them up to date and compile nothing; an input that changed
// since the bundle was written still rebuilds.
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
	"github.com/flts/flts-e2e/tools/engine"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/imagebuild"
	"github.com/flts/flts-e2e/tools/nodeimage"
	"github.com/flts/flts-e2e/tools/progress"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// errUsage marks bad command lines (exit status 2).
var errUsage = errors.New("bad usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "flts-images: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "flts-images: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	root, err := reporoot.Find()
	if err != nil {
		return err
	}
	if len(args) > 0 {
		switch args[0] {
		case "save":
			return save(ctx, log, root, args[1:], stderr)
		case "load":
			return load(ctx, log, args[1:])
		case "engine":
			return startEngine(ctx, log, root, args[1:], stdout)
		case "node-image":
			return nodeImage(ctx, log, root, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("flts-images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tag := fs.String("tag", config.NewEnv(nil).String("IMAGE_TAG", "e2e"), "image tag (env IMAGE_TAG)")
	registry := fs.String("registry", config.NewEnv(nil).String("IMAGE_REGISTRY", "flts.local"), "image registry prefix (env IMAGE_REGISTRY)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: flts-images [flags] [image ...] | engine [--stop] | node-image [flags] | save FILE | load FILE\n\nBuilds images/<name> for each name (default: %v).\n\n", imagebuild.SuiteImages)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	names := fs.Args()
	b, err := imagebuild.New(imagebuild.Options{RepoRoot: root, Registry: *registry, Tag: *tag, Logger: log})
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = imagebuild.SuiteImages
	}
	refs, err := b.BuildAll(ctx, names...)
	if err != nil {
		return err
	}
	for _, r := range refs {
		fmt.Fprintln(stdout, r)
	}
	return nil
}

// bundleRefs lists every image the suite needs, checking each is present
// and, for the node image, up to date with its sources.
func bundleRefs(ctx context.Context, log *slog.Logger, root, version string) ([]string, error) {
	node, err := nodeimage.Lookup(ctx, nodeimage.Options{K8sVersion: version, RepoRoot: root, Logger: log})
	if err != nil {
		return nil, err
	}
	suite, err := imagebuild.New(imagebuild.Options{RepoRoot: root, Tag: config.NewEnv(nil).String("IMAGE_TAG", "e2e"), Logger: log})
	if err != nil {
		return nil, err
	}
	refs, err := suite.Present(ctx, imagebuild.SuiteImages...)
	if err != nil {
		return nil, err
	}
	ms, err := nodeimage.LookupMetricsServer(ctx, nodeimage.Options{K8sVersion: version, RepoRoot: root, Logger: log})
	if err != nil {
		return nil, err
	}
	return append([]string{node, ms}, refs...), nil
}

// requireRoot refuses a command that needs root, saying what needs it,
// after its command line was checked.
func requireRoot(cmd, why string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("flts-images %s must run as root: %s; run `sudo -E env PATH=\"$PATH\" make e2e` (or the target you ran)", cmd, why)
}

func startEngine(ctx context.Context, log *slog.Logger, root string, args []string, stdout io.Writer) error {
	opts := engine.Options{StateDir: filepath.Join(root, "_cache", "flts-cluster"), RepoRoot: root, Logger: log}
	if len(args) == 1 && args[0] == "--stop" {
		stopped, err := engine.StopOwned(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "engine stopped=%v (only one flts started is stopped)\n", stopped)
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("%w: engine takes no arguments but --stop, got %q", errUsage, args)
	}
	if err := requireRoot("engine", "it may install docker.io (apt-get), start dockerd and register the runtime wrapper in /etc/docker/daemon.json"); err != nil {
		return err
	}
	e, err := engine.Ensure(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "engine ready started-by-flts=%v pid=%d wrapper=%v\n", e.Started, e.PID, e.WrapperInstalled)
	return nil
}

func nodeImage(ctx context.Context, log *slog.Logger, root string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("k8s-version", config.NewEnv(nil).String("K8S_VERSION", nodeimage.DefaultK8sVersion), "Kubernetes version (env K8S_VERSION)")
	baseOnly := fs.Bool("base-only", false, "build only the Debian base image")
	msOnly := fs.Bool("metrics-server-only", false, "build only the metrics-server image (for a node image built elsewhere: KIND_NODE_IMAGE)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *baseOnly && *msOnly {
		return fmt.Errorf("%w: --base-only and --metrics-server-only exclude each other", errUsage)
	}
	if _, err := nodeimage.ValidateK8sVersion(*version); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !*msOnly {
		if err := requireRoot("node-image", "the base file system is built with debootstrap and chroot"); err != nil {
			return err
		}
	}
	opts := nodeimage.Options{K8sVersion: *version, RepoRoot: root, Logger: log}
	var ref string
	var err error
	switch {
	case *baseOnly:
		ref, err = nodeimage.BuildBase(ctx, opts)
	case *msOnly:
		ref, err = nodeimage.BuildMetricsServer(ctx, opts)
	default:
		ref, err = nodeimage.Build(ctx, opts)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

func save(ctx context.Context, log *slog.Logger, root string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("save", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("k8s-version", config.NewEnv(nil).String("K8S_VERSION", nodeimage.DefaultK8sVersion), "Kubernetes version of the node image (env K8S_VERSION)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: save needs exactly one FILE", errUsage)
	}
	file := fs.Arg(0)
	refs, err := bundleRefs(ctx, log, root, *version)
	if err != nil {
		return err
	}
	// docker save writes in place: a half-written bundle must never look
	// complete, so write beside it and rename.
	tmp := file + ".partial"
	step := progress.Start(log, fmt.Sprintf("save %d images to %s", len(refs), file), 0)
	defer step.Stop()
	if err := execx.Command("docker", append([]string{"save", "-o", tmp}, refs...)...).Run(ctx); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to save the bundle: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("failed to finish the bundle: %w", err)
	}
	step.Done()
	return nil
}

func load(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: load needs exactly one FILE", errUsage)
	}
	if _, err := os.Stat(args[0]); err != nil {
		return fmt.Errorf("%w: bundle %v", errUsage, err)
	}
	step := progress.Start(log, "load bundle "+args[0], 0)
	defer step.Stop()
	out, err := execx.Command("docker", "load", "-i", args[0]).Output(ctx)
	if err != nil {
		return fmt.Errorf("failed to load the bundle: %w", err)
	}
	step.Done()
	log.Info("bundle loaded", "images", out)
	return nil
}
