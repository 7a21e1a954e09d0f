// Command flts-dataset brings your own dataset into a running release
// (`make dataset CSV=FILE`): it checks the CSV here (a bad header, time or
// value is reported with its line and column, and nothing is stored),
// uploads it to the release's MinIO through a port-forward, starts a
// preprocessing Job and follows it. A new CSV is a new data version: the
// models retrain and eval promotes one of them; the same CSV again is the
// same version and reuses what was trained.
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
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/tools/dataload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	kubeconfig, namespace, csv string
	wait                       bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("flts-dataset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.namespace, "namespace", "flts", "namespace of the flts release")
	fs.StringVar(&o.csv, "csv", "", "the raw dataset: a time column and the 11 KPI columns (required)")
	fs.BoolVar(&o.wait, "wait", true, "follow the preprocessing Job until it succeeds")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.csv == "" {
		errs = append(errs, errors.New("--csv is required"))
	}
	if o.namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "flts-dataset: %v\n", err)
		return 2
	}
	data, err := os.ReadFile(o.csv)
	if err != nil {
		fmt.Fprintf(stderr, "flts-dataset: %v\n", err)
		return 2
	}
	// The file first: a bad line is reported before any cluster is needed.
	if err := dataload.Check(data, preprocess.DefaultConfig()); err != nil {
		fmt.Fprintf(stderr, "flts-dataset: %s: %v\n", o.csv, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "flts-dataset: failed to load kubeconfig: %v\n", err)
		return 1
	}
	res, err := dataload.Load(ctx, dataload.Options{Config: cfg, Namespace: o.namespace, CSV: data, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "flts-dataset: %s: %v\n", o.csv, err)
		return 1
	}
	fmt.Fprintf(stdout, "stored %s (sha256 %s); preprocessing Job %s started\n", o.csv, res.Digest, res.Job)
	if !o.wait {
		return 0
	}
	if err := dataload.WaitJob(ctx, cfg, o.namespace, res.Job, log); err != nil {
		fmt.Fprintf(stderr, "flts-dataset: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "preprocessing done: the models train on the new data version and eval promotes the best (GET /promotion on the eval Service)\n")
	return 0
}
