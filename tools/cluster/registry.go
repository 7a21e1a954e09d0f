package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/netguard"
)

// A registry on the kind network, for running the suite the way it runs on
// a cluster it did not create: images pushed from this machine's engine,
// pulled by the nodes (kind's local registry recipe, with a registry built
// from its Go module). The node-side name is the host-side one: containerd
// maps it to the container on the kind network (a hosts.toml per node, read
// because the kind config sets containerd's config_path).
const (
	// RegistryContainer names the registry's container; the nodes reach it
	// by this name on the kind network.
	RegistryContainer = "flts-registry"
	// RegistryHostAddr is where this machine pushes: a loopback address
	// the Docker engine trusts over plain HTTP without configuration.
	RegistryHostAddr = "localhost:5001"
	// registryPort is the registry's port inside its container.
	registryPort = "5000"
	// registryCertsDir is containerd's config_path, set by the kind config
	// of a cluster that pulls from the registry.
	registryCertsDir   = "/etc/containerd/certs.d"
	registryUpTimeout  = time.Minute
	registryRootDir    = "/var/lib/registry"
	registryStorageCap = "4g"
)

// RegistryHostsTOML is containerd's hosts.toml sending pulls of
// RegistryHostAddr to the registry container over plain HTTP.
func RegistryHostsTOML() string {
	return fmt.Sprintf("[host.\"http://%s:%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", RegistryContainer, registryPort)
}

// StartRegistry runs image (the registry built by `flts-images registry`)
// as RegistryContainer on the kind network, published on RegistryHostAddr,
// replacing a leftover one, and waits until it answers. Its storage is a
// tmpfs: a test registry holds nothing worth keeping.
func StartRegistry(ctx context.Context, log *slog.Logger, image string) error {
	if err := StopRegistry(ctx); err != nil {
		return err
	}
	_, port, _ := strings.Cut(RegistryHostAddr, ":")
	run := execx.Command("docker", "run", "--detach", "--name", RegistryContainer, "--network", netguard.NetworkName,
		"--publish", "127.0.0.1:"+port+":"+registryPort,
		"--tmpfs", registryRootDir+":rw,uid=65532,gid=65532,size="+registryStorageCap,
		"--restart", "no", image)
	if err := run.Run(ctx); err != nil {
		return fmt.Errorf("failed to start the registry: %w", err)
	}
	url := "http://" + RegistryHostAddr + "/v2/"
	client := &http.Client{Timeout: 5 * time.Second}
	err := poll(ctx, registryUpTimeout, "the registry at "+url, func(ctx context.Context) (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	if err != nil {
		return err
	}
	log.Info("registry answers", "push", RegistryHostAddr, "container", RegistryContainer, "network", netguard.NetworkName)
	return nil
}

// StopRegistry removes the registry container (and its storage); a
// missing one is not an error.
func StopRegistry(ctx context.Context) error {
	out, err := execx.Command("docker", "ps", "--all", "--quiet", "--filter", "name=^/"+RegistryContainer+"$").Output(ctx)
	if err != nil {
		return fmt.Errorf("failed to look for the registry container: %w", err)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	if err := execx.Command("docker", "rm", "--force", "--volumes", RegistryContainer).Run(ctx); err != nil {
		return fmt.Errorf("failed to remove the registry container: %w", err)
	}
	return nil
}

// TrustRegistry tells every node's containerd to pull RegistryHostAddr
// from the registry container (the cluster must be created with a kind
// config that sets containerd's config_path to /etc/containerd/certs.d).
func (c *Cluster) TrustRegistry(ctx context.Context) error {
	nodes, err := c.provider.ListInternalNodes(c.Name)
	if err != nil {
		return fmt.Errorf("failed to list nodes of %s: %w", c.Name, err)
	}
	dir := path.Join(registryCertsDir, RegistryHostAddr)
	for _, n := range nodes {
		cmd := n.CommandContext(ctx, "sh", "-c", fmt.Sprintf("mkdir -p %q && cat > %q", dir, path.Join(dir, "hosts.toml")))
		cmd.SetStdin(strings.NewReader(RegistryHostsTOML()))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("failed to write the registry's hosts.toml on node %s: %w", n.String(), err)
		}
	}
	c.log.Info("nodes pull from the registry", "name", RegistryHostAddr, "nodes", len(nodes))
	return nil
}
