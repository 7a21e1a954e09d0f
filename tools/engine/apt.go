package engine

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
)

// install installs docker.io when dockerd is missing.
func (e *Engine) install(ctx context.Context) error {
	_, daemonErr := exec.LookPath("dockerd")
	_, cliErr := exec.LookPath("docker")
	if daemonErr == nil && cliErr == nil {
		return nil
	}
	e.log.Info("installing docker.io with apt-get")
	start := time.Now()
	if err := e.run.Run(ctx, execx.Command("apt-get", "update")); err != nil {
		return fmt.Errorf("failed to update apt indexes: %w", err)
	}
	cmd := execx.Command("apt-get", "install", "-y", "--no-install-recommends", "docker.io")
	cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := e.run.Run(ctx, cmd); err != nil {
		return fmt.Errorf("failed to install docker.io: %w", err)
	}
	e.log.Info("installed docker.io", "elapsed", time.Since(start).Round(time.Second))
	return nil
}
