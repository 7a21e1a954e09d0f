package freshmachine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
)

// Clone clones the committed HEAD of the repository at root into dest, as a
// new user's `git clone` would get it; uncommitted changes are left out,
// with a warning.
func Clone(ctx context.Context, log *slog.Logger, root, dest string) error {
	if out, err := execx.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(ctx); err == nil && strings.TrimSpace(out) != "" {
		log.Warn("uncommitted changes are not part of the run: it clones HEAD", "repo", root)
	}
	if err := execx.Command("git", "clone", "--quiet", "--no-hardlinks", root, dest).Run(ctx); err != nil {
		return fmt.Errorf("failed to clone %s: %w", root, err)
	}
	return nil
}

// RemoveTree removes dir, a fresh run's clone and Go caches; nothing to do
// when it does not exist.
func RemoveTree(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	// The Go module cache is written read-only: make it removable first.
	if err := execx.Command("chmod", "-R", "u+w", dir).Run(ctx); err != nil {
		return fmt.Errorf("failed to make %s removable: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("failed to remove %s: %w", dir, err)
	}
	return nil
}
