package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/flts/flts-e2e/tools/execx"
)

// LoadImages copies local Docker images into every node's containerd, like
// `kind load docker-image`, so pods can run them without any registry.
func (c *Cluster) LoadImages(ctx context.Context, refs ...string) error {
	if len(refs) == 0 {
		return nil
	}
	nodes, err := c.provider.ListInternalNodes(c.Name)
	if err != nil {
		return fmt.Errorf("failed to list nodes of %s: %w", c.Name, err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("cluster %s has no nodes", c.Name)
	}
	dir, err := os.MkdirTemp("", "flts-load-")
	if err != nil {
		return fmt.Errorf("failed to create temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "images.tar")
	save := execx.Command("docker", append([]string{"save", "-o", archive}, refs...)...)
	if err := save.Run(ctx); err != nil {
		return fmt.Errorf("failed to save images %s: %w", strings.Join(refs, " "), err)
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			return fmt.Errorf("failed to open image archive: %w", err)
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("failed to load %s into node %s: %w", strings.Join(refs, " "), n.String(), err)
		}
	}
	c.log.Info("loaded images", "images", strings.Join(refs, " "), "nodes", len(nodes))
	return nil
}
