package nodeimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
)

// pipeCommands runs `producer | consumer`. The read end is closed as soon as
// the consumer exits so a failing consumer cannot leave the producer
// blocked on a full pipe.
func pipeCommands(ctx context.Context, run execx.Runner, producer []string, consumer *execx.Cmd) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("failed to create pipe: %w", err)
	}
	var stderr bytes.Buffer
	prod := exec.CommandContext(ctx, producer[0], producer[1:]...)
	prod.Stdout = w
	prod.Stderr = &stderr
	if err := prod.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("failed to start %s: %w", strings.Join(producer, " "), err)
	}
	w.Close()
	consumer.Stdin = r
	consErr := run.Run(ctx, consumer)
	r.Close()
	prodErr := prod.Wait()
	if consErr != nil {
		return consErr
	}
	if prodErr != nil {
		return &execx.Error{Line: strings.Join(producer, " "), Output: stderr.String(), Err: prodErr}
	}
	return nil
}

// finishImage adds the metadata `docker import` and `docker commit` cannot
// set on Docker 20.10 (STOPSIGNAL) plus the cache-key label, with a
// metadata-only legacy build.
func (b *builder) finishImage(ctx context.Context, from, ref, key string, extra ...string) error {
	df := "FROM " + from + "\nSTOPSIGNAL SIGRTMIN+3\nLABEL " + CacheKeyLabel + "=" + key + "\n" + strings.Join(extra, "\n") + "\n"
	dir, err := os.MkdirTemp(b.opts.CacheDir, "finish-")
	if err != nil {
		return fmt.Errorf("failed to create build context: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(dir+"/Dockerfile", []byte(df), 0o644); err != nil {
		return fmt.Errorf("failed to write Dockerfile: %w", err)
	}
	cmd := &execx.Cmd{Name: "docker", Args: []string{"build", "-q", "-t", ref, dir}, Env: []string{"DOCKER_BUILDKIT=0"}}
	if err := b.run.Run(ctx, cmd); err != nil {
		return fmt.Errorf("failed to finish image %s: %w", ref, err)
	}
	if err := b.run.Run(ctx, execx.Command("docker", "rmi", from)); err != nil {
		return fmt.Errorf("failed to remove intermediate image %s: %w", from, err)
	}
	return nil
}
