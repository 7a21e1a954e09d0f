package nodeimage

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flts/flts-e2e/tools/execx"
)

// CNIConflist is baked into the node: kindnetd is not available offline and
// a single node needs no routes between nodes, so ptp + host-local over
// kind's default pod subnet, with masquerade and hostPort support, will do.
const CNIConflist = `{
  "cniVersion": "0.4.0",
  "name": "flts-ptp",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true}
    }
  ]
}
`

// assemble preloads images into the base's containerd and commits the node.
func (b *builder) assemble(ctx context.Context, ref, key, version, baseRef, k8sBin, crictlBin string, images []string) error {
	step := b.step("assemble node image " + ref)
	defer step.Stop()
	name := fmt.Sprintf("flts-nodeimage-build-%d", time.Now().UnixNano())
	if err := b.run.Run(ctx, execx.Command("docker", "run", "-d", "--privileged", "--name", name, "--network", "none",
		"--entrypoint", "sleep", baseRef, "infinity")); err != nil {
		return fmt.Errorf("failed to start the assembly container: %w", err)
	}
	defer func() {
		_ = b.run.Run(context.WithoutCancel(ctx), execx.Command("docker", "rm", "-f", name))
	}()
	for _, bin := range []string{"kubeadm", "kubelet", "kubectl"} {
		if err := b.run.Run(ctx, execx.Command("docker", "cp", filepath.Join(k8sBin, bin), name+":/usr/bin/"+bin)); err != nil {
			return fmt.Errorf("failed to copy %s into the node: %w", bin, err)
		}
	}
	// kind's base files already provide /etc/crictl.yaml pointing crictl
	// at containerd's socket.
	if err := b.run.Run(ctx, execx.Command("docker", "cp", crictlBin, name+":/usr/local/bin/crictl")); err != nil {
		return fmt.Errorf("failed to copy crictl into the node: %w", err)
	}
	writes := []struct{ path, content string }{
		{"/kind/version", version + "\n"},
		{"/etc/cni/net.d/10-flts-ptp.conflist", CNIConflist},
	}
	for _, w := range writes {
		cmd := execx.Command("docker", "exec", "-i", name, "sh", "-c", `mkdir -p "$(dirname "$1")" && cat > "$1"`, "sh", w.path)
		cmd.Stdin = strings.NewReader(w.content)
		if err := b.run.Run(ctx, cmd); err != nil {
			return fmt.Errorf("failed to write %s into the node: %w", w.path, err)
		}
	}
	// containerd runs in the background of the build container only; its
	// PID is kept so it is stopped precisely.
	if err := b.run.Run(ctx, execx.Command("docker", "exec", "-d", name, "sh", "-c",
		"containerd >/var/log/containerd-build.log 2>&1 & echo $! > /run/containerd-build.pid; wait")); err != nil {
		return fmt.Errorf("failed to start containerd in the node: %w", err)
	}
	// containerd answers within a second or two; 60 s allows a loaded machine.
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return b.run.Run(ctx, execx.Command("docker", "exec", name, "ctr", "version")) == nil, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting for containerd in the node: %w", ctx.Err())
		}
		return fmt.Errorf("containerd in the node did not answer within 60s: %w", err)
	}
	imp := execx.Command("docker", "exec", "-i", name, "ctr", "--namespace=k8s.io", "images", "import",
		"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-")
	if err := pipeCommands(ctx, b.run, append([]string{"docker", "save"}, images...), imp); err != nil {
		return fmt.Errorf("failed to import images into the node: %w", err)
	}
	listed, err := b.run.Output(ctx, execx.Command("docker", "exec", name, "ctr", "--namespace=k8s.io", "images", "list", "-q"))
	if err != nil {
		return fmt.Errorf("failed to list images in the node: %w", err)
	}
	for _, img := range images {
		if !strings.Contains(listed, img) {
			return fmt.Errorf("image %s missing from the node after import; node has:\n%s", img, listed)
		}
	}
	if err := b.run.Run(ctx, execx.Command("docker", "exec", name, "sh", "-c",
		`pid=$(cat /run/containerd-build.pid); kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; rm -rf /run/containerd-build.pid /run/containerd /var/log/containerd-build.log`)); err != nil {
		return fmt.Errorf("failed to stop containerd in the node: %w", err)
	}
	if err := b.run.Run(ctx, execx.Command("docker", "commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"--change", `CMD []`,
		"--change", "ENV container=docker",
		name, ref+"-commit")); err != nil {
		return fmt.Errorf("failed to commit the node image: %w", err)
	}
	if err := b.finishImage(ctx, ref+"-commit", ref, key); err != nil {
		return err
	}
	step.Done()
	return nil
}
