// Command flts-ci-local runs one leg of a job of the project's GitHub
// workflow on this machine as an ubuntu runner would run it: a fresh
// checkout of HEAD owned by an unprivileged user with passwordless sudo
// (created when missing), the job's run: steps executed in order as that
// user with the workflow's env and expressions, and the actions it uses
// (checkout, setup-go, cache, upload-artifact) emulated locally. By default
// the project's images are removed first, so a build-from-source leg
// builds as on a new runner; actions/cache entries persist between runs in
// --cache-dir, as GitHub's cache does.
//
//	sudo go run ./tools/cmd/flts-ci-local --job e2e --matrix node-image=
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flts/flts-e2e/tools/cilocal"
	"github.com/flts/flts-e2e/tools/cluster"
	"github.com/flts/flts-e2e/tools/freshmachine"
	"github.com/flts/flts-e2e/tools/reporoot"
	"github.com/flts/flts-e2e/tools/workflow"
)

// passEnv is what a runner image would carry from its machine: the proxy
// settings the module proxy and the package mirror need.
var passEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}

// matrixFlag collects --matrix key=value selections.
type matrixFlag map[string]string

func (m matrixFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m matrixFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	m[k] = v
	return nil
}

type config struct {
	workflow   string
	job        string
	matrix     matrixFlag
	user       string
	cacheDir   string
	keep       bool
	keepImages bool
}

func main() {
	cfg := config{matrix: matrixFlag{}}
	fs := flag.NewFlagSet("flts-ci-local", flag.ContinueOnError)
	fs.StringVar(&cfg.workflow, "workflow", ".github/workflows/e2e.yaml", "workflow file, relative to the repository root")
	fs.StringVar(&cfg.job, "job", "e2e", "job ID")
	fs.Var(cfg.matrix, "matrix", "select the matrix leg whose key has this value (key=value, repeatable; an empty value matches an empty entry)")
	fs.StringVar(&cfg.user, "user", "flts-runner", "unprivileged user that runs the steps (created with passwordless sudo when missing)")
	fs.StringVar(&cfg.cacheDir, "cache-dir", "", "where actions/cache entries persist between runs (default _output/ci-local/cache)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the workspace after the run")
	fs.BoolVar(&cfg.keepImages, "keep-images", false, "keep the project's images (a warm run; by default they are removed, as on a new runner)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: flts-ci-local [flags]\n\nRuns one leg of a workflow job as a non-root user with passwordless sudo, from a fresh checkout.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "flts-ci-local: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C cancels the job as GitHub would (its cleanup steps
	// still run); a second one ends this process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	failed, err := run(ctx, log, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flts-ci-local:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfg config) (failed bool, err error) {
	root, err := reporoot.Find()
	if err != nil {
		return false, err
	}
	wf, err := workflow.Load(filepath.Join(root, cfg.workflow))
	if err != nil {
		return false, err
	}
	job := wf.Jobs[cfg.job]
	if job == nil {
		return false, fmt.Errorf("no job %q in %s (jobs: %s)", cfg.job, cfg.workflow, strings.Join(wf.JobIDs(), ", "))
	}
	leg, err := selectLeg(job.Legs(), cfg.matrix)
	if err != nil {
		return false, fmt.Errorf("job %q: %w", cfg.job, err)
	}
	u, err := cilocal.EnsureUser(ctx, log, cfg.user)
	if err != nil {
		return false, err
	}
	base := filepath.Join(u.Home, "work")
	workDir := filepath.Join(base, "flts-e2e", "flts-e2e")
	tempDir := filepath.Join(base, "_temp")
	if err := resetDir(ctx, filepath.Join(base, "flts-e2e")); err != nil {
		return false, err
	}
	if err := resetDir(ctx, tempDir); err != nil {
		return false, err
	}
	if cfg.cacheDir == "" {
		cfg.cacheDir = filepath.Join(root, "_output", "ci-local", "cache")
	}
	if err := os.MkdirAll(cfg.cacheDir, 0o755); err != nil {
		return false, fmt.Errorf("failed to create the cache directory: %w", err)
	}
	for _, dir := range []string{base, cfg.cacheDir} {
		if err := u.Chown(dir); err != nil {
			return false, err
		}
	}
	if !cfg.keep {
		defer func() {
			for _, dir := range []string{filepath.Join(base, "flts-e2e"), tempDir} {
				if err := freshmachine.RemoveTree(context.WithoutCancel(ctx), dir); err != nil {
					log.Warn("failed to remove the workspace", "dir", dir, "err", err)
				}
			}
		}()
	}
	if !cfg.keepImages {
		if err := freshmachine.RemoveProjectImages(ctx, log, root, filepath.Join(tempDir, "engine"), cluster.DefaultName); err != nil {
			return false, err
		}
	}
	start := time.Now()
	artifacts := filepath.Join(reporoot.ArtifactsDir(root, os.Getenv("ARTIFACTS")), "ci-local-"+cfg.job+"-"+start.UTC().Format("20060102-150405"))
	log.Info("running the workflow job as an unprivileged runner", "job", cfg.job, "leg", leg, "user", u.Name, "workspace", workDir)
	res, err := cilocal.Run(ctx, cilocal.Options{
		RepoRoot: root, Workflow: wf, JobID: cfg.job, Leg: leg, User: u,
		WorkDir: workDir, TempDir: tempDir, CacheDir: cfg.cacheDir, ArtifactsDir: artifacts,
		PassEnv: passEnv, Out: os.Stdout, Logger: log,
	})
	if err != nil {
		return false, err
	}
	summary := fmt.Sprintf("\nci-local: job %s, leg %v, as %s:\n%s", cfg.job, leg, u.Name, res.Summary())
	fmt.Print(summary)
	if err := os.MkdirAll(artifacts, 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(artifacts, "summary.txt"), []byte(summary), 0o644); err != nil {
			log.Warn("failed to write the summary", "err", err)
		}
		log.Info("artifacts", "dir", artifacts)
	}
	return res.Failed, nil
}

// selectLeg picks the one leg matching every key=value of want.
func selectLeg(legs []map[string]any, want map[string]string) (map[string]any, error) {
	var matched []map[string]any
	for _, leg := range legs {
		ok := true
		for k, v := range want {
			if workflow.String(leg[k]) != v {
				ok = false
			}
		}
		if ok {
			matched = append(matched, leg)
		}
	}
	if len(matched) == 1 {
		return matched[0], nil
	}
	var list []string
	for _, leg := range legs {
		list = append(list, fmt.Sprint(leg))
	}
	return nil, fmt.Errorf("--matrix %v matches %d of its legs, want exactly one; legs: %s", want, len(matched), strings.Join(list, "; "))
}

// resetDir removes dir (root-owned files included) and creates it empty.
func resetDir(ctx context.Context, dir string) error {
	if err := freshmachine.RemoveTree(ctx, dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	return nil
}
