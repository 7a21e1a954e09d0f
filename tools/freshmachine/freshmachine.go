// Package freshmachine gives a run what a new machine would give it: a
// clean clone of HEAD, Go caches that can be thrown away, and a Docker
// engine holding none of the project's images.
package freshmachine

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"

	"github.com/flts/flts-e2e/tools/engine"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/imagebuild"
)

// RemoveProjectImages removes every image carrying the project's label, so
// the next build starts from nothing, as on a new machine. It refuses when
// a kind cluster named clusterName exists: the run that follows would
// delete it.
// An engine that is installed but stopped still holds its images, so one is
// started for this when none answers, and stopped again: the fresh run then
// starts its own, as a new machine's would.
func RemoveProjectImages(ctx context.Context, log *slog.Logger, root, stateDir, clusterName string) error {
	if _, err := exec.LookPath("dockerd"); err != nil {
		log.Info("no Docker engine installed: no project images to remove")
		return nil
	}
	eng, err := engine.Ensure(ctx, engine.Options{StateDir: stateDir, RepoRoot: root, Logger: log})
	if err != nil {
		return fmt.Errorf("failed to start the Docker engine to remove the project's images: %w", err)
	}
	defer func() {
		if err := eng.Stop(context.WithoutCancel(ctx)); err != nil {
			log.Warn("failed to stop the engine started to remove images", "err", err)
		}
	}()
	// The clone's make e2e would delete a cluster of the same name and needs
	// its host port: refuse rather than take the user's cluster down. Asked
	// of the running engine, stopped nodes included (they start with it).
	if out, err := execx.Command("docker", "ps", "-a", "-q", "--filter", "label=io.x-k8s.kind.cluster="+clusterName).Output(ctx); err == nil && strings.TrimSpace(out) != "" {
		return fmt.Errorf("a kind cluster %q exists and the fresh run would delete it: `make cluster-down` first, or set CLUSTER_NAME", clusterName)
	}
	out, err := execx.Command("docker", "images", "--filter", "label="+imagebuild.CacheKeyLabel, "--format", "{{.ID}}").Output(ctx)
	if err != nil {
		return fmt.Errorf("failed to list the project's images: %w", err)
	}
	ids := uniq(strings.Fields(out))
	if len(ids) == 0 {
		log.Info("no project images to remove")
		return nil
	}
	log.Info("removing the project's images", "count", len(ids))
	if err := execx.Command("docker", append([]string{"rmi", "--force"}, ids...)...).Run(ctx); err != nil {
		return fmt.Errorf("failed to remove the project's images: %w", err)
	}
	return nil
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
