package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/imagebuild"
)

// probePrivileged runs the pause binary in a privileged container.
func (e *Engine) probePrivileged(ctx context.Context) error {
	if err := e.ensureProbeImage(ctx); err != nil {
		return err
	}
	out, err := e.run.Output(ctx, execx.Command("docker", "run", "--rm", "--privileged", "--network", "none", ProbeImage, "/pause", "-v"))
	if err != nil {
		return err
	}
	if !strings.Contains(out, "pause") {
		return fmt.Errorf("privileged probe printed %q", out)
	}
	return nil
}

func (e *Engine) ensureProbeImage(ctx context.Context) error {
	if e.run.Run(ctx, execx.Command("docker", "image", "inspect", ProbeImage)) == nil {
		return nil
	}
	bin := filepath.Join(e.opts.StateDir, "probe-pause")
	build := &execx.Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./images/pause"},
		Dir: e.opts.RepoRoot, Env: []string{"CGO_ENABLED=0"}}
	if err := e.run.Run(ctx, build); err != nil {
		return fmt.Errorf("failed to build the probe binary: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("failed to read probe binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("failed to write probe tar: %w", err)
	}
	// Labelled like every image the project makes, so the fresh-machine
	// check (flts-fresh) can find and remove them all.
	imp := execx.Command("docker", "import", "--change", "LABEL "+imagebuild.CacheKeyLabel+"=engine-probe", "-", ProbeImage)
	imp.Stdin = &buf
	if err := e.run.Run(ctx, imp); err != nil {
		return fmt.Errorf("failed to import probe image: %w", err)
	}
	return nil
}
