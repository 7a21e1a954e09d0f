// Command flts-fresh runs `make e2e` the way a new user's first run goes, on
// a machine that has run it before, without touching the user's checkout or
// Go caches:
//
//   - a fresh `git clone` of the committed HEAD into a temporary directory;
//   - empty GOCACHE and GOMODCACHE in that directory;
//   - every image the project built removed from the Docker engine (those
//     carrying the flts.cache-key label, which every project image has);
//
// then `make e2e` in the clone, with its output streamed. At the end it
// prints the time of each stage (the clone's stage-times.tsv and its own
// preparation) and the total, copies the clone's artifacts under
// ARTIFACTS/e2e-fresh-<time>/, and removes the temporary directory unless
// --keep. What it cannot undo is the Docker engine itself: an engine that
// is already installed and running stays (its install takes about 1.5 min
// on a machine that has none).
//
//	go run ./tools/cmd/flts-fresh [--keep] [-- make-args...]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/flts/flts-e2e/tools/cluster"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/freshmachine"
	"github.com/flts/flts-e2e/tools/reporoot"
)

func main() {
	fs := flag.NewFlagSet("flts-fresh", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the temporary clone and Go caches")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: flts-fresh [--keep] [-- make-args...]\n\nRuns make e2e from a fresh clone with empty Go caches and the project's images removed.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// Ctrl-C reaches make too (same process group): make's own trap deletes
	// the cluster, and this process waits for it before cleaning up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *keep, fs.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "flts-fresh:", err)
		os.Exit(1)
	}
}

// stage is one row of the final table.
type stage struct {
	name    string
	elapsed time.Duration
	status  string
}

func run(ctx context.Context, log *slog.Logger, keep bool, makeArgs []string) error {
	start := time.Now()
	root, err := reporoot.Find()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flts-fresh-")
	if err != nil {
		return fmt.Errorf("failed to create a temporary directory: %w", err)
	}
	defer func() {
		if keep {
			log.Info("kept the fresh run's directory", "dir", tmp)
			return
		}
		if err := freshmachine.RemoveTree(context.Background(), tmp); err != nil {
			log.Warn("failed to remove the temporary directory", "dir", tmp, "err", err)
		}
	}()
	var stages []stage
	timed := func(name string, f func() error) error {
		t := time.Now()
		err := f()
		status := "ok"
		if err != nil {
			status = "failed"
		}
		stages = append(stages, stage{name, time.Since(t), status})
		return err
	}

	clone := filepath.Join(tmp, "flts-e2e")
	err = timed("fresh clone", func() error { return freshmachine.Clone(ctx, log, root, clone) })
	if err != nil {
		return err
	}
	err = timed("remove images", func() error {
		return freshmachine.RemoveProjectImages(ctx, log, root, filepath.Join(tmp, "engine"), clusterName())
	})
	if err != nil {
		return err
	}

	artifacts := filepath.Join(clone, "_artifacts")
	cmd := exec.Command("make", append([]string{"e2e"}, makeArgs...)...)
	cmd.Dir = clone
	cmd.Env = append(os.Environ(),
		"GOCACHE="+filepath.Join(tmp, "gocache"),
		"GOMODCACHE="+filepath.Join(tmp, "gomodcache"),
		"ARTIFACTS="+artifacts,
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	log.Info("make e2e from a fresh clone", "dir", clone, "args", makeArgs)
	makeStart := time.Now()
	// Not CommandContext: on Ctrl-C make receives the signal from the
	// terminal itself and must be left to clean up; this only waits.
	runErr := cmd.Run()
	makeElapsed := time.Since(makeStart)

	made, perr := readStages(filepath.Join(artifacts, "stage-times.tsv"))
	if perr != nil {
		log.Warn("no stage times from make e2e", "err", perr)
	}
	stages = append(stages, made...)
	// make e2e runs some stages side by side: its own wall time is the
	// figure, the stage rows say where it went.
	makeStatus := "ok"
	if runErr != nil {
		makeStatus = "failed"
	}
	stages = append(stages, stage{"make e2e (wall)", makeElapsed, makeStatus})
	table := formatTable(stages, time.Since(start))
	fmt.Print(table)

	// Kept after Ctrl-C too: that is when the artifacts matter most.
	dest := filepath.Join(userArtifacts(root), "e2e-fresh-"+start.UTC().Format("20060102-150405"))
	if err := copyArtifacts(context.WithoutCancel(ctx), artifacts, dest, table); err != nil {
		log.Warn("failed to keep the fresh run's artifacts", "err", err)
	} else {
		log.Info("fresh run artifacts", "dir", dest)
	}
	if runErr != nil {
		return fmt.Errorf("make e2e failed in the fresh clone after %s: %w", makeElapsed.Round(time.Second), runErr)
	}
	return nil
}

// clusterName is the kind cluster the clone's make e2e uses.
func clusterName() string {
	if n := os.Getenv("CLUSTER_NAME"); n != "" {
		return n
	}
	return cluster.DefaultName
}

// readStages parses the "name<TAB>seconds<TAB>exit status" lines that
// `make e2e` writes.
func readStages(path string) ([]stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseStages(f)
}

func parseStages(r io.Reader) ([]stage, error) {
	var out []stage
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return out, fmt.Errorf("bad stage line %q", sc.Text())
		}
		secs, err := strconv.Atoi(f[1])
		if err != nil {
			return out, fmt.Errorf("bad stage seconds in %q", sc.Text())
		}
		status := "ok"
		if f[2] != "0" {
			status = "exit " + f[2]
		}
		out = append(out, stage{f[0], time.Duration(secs) * time.Second, status})
	}
	return out, sc.Err()
}

func formatTable(stages []stage, total time.Duration) string {
	var b strings.Builder
	b.WriteString("\nfresh-machine run (flts-fresh):\n")
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  stage\ttime\tstatus")
	for _, s := range stages {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", s.name, s.elapsed.Round(time.Second), s.status)
	}
	fmt.Fprintf(w, "  total\t%s\t\n", total.Round(time.Second))
	w.Flush()
	return b.String()
}

// userArtifacts is the invoking checkout's artifacts directory (ARTIFACTS,
// relative to the repository root when relative).
func userArtifacts(root string) string {
	return reporoot.ArtifactsDir(root, os.Getenv("ARTIFACTS"))
}

func copyArtifacts(ctx context.Context, src, dest, table string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dest, err)
	}
	if err := os.WriteFile(filepath.Join(dest, "stage-table.txt"), []byte(table), 0o644); err != nil {
		return fmt.Errorf("failed to write the stage table: %w", err)
	}
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	return execx.Command("cp", "-a", src+"/.", dest).Run(ctx)
}
