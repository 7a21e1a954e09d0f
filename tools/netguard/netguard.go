// Package netguard keeps every packet from the kind Docker network inside
// it. On the project machines a transparent proxy answers connections to
// addresses that exist nowhere, so a Service ClusterIP packet leaving a node
// before kube-proxy's DNAT rule exists opens a live connection to a stranger
// (seen: the metrics APIService stuck FailedDiscoveryCheck on its 404s).
// Traffic to outside private ranges is also forbidden. The guard is one
// iptables rule in DOCKER-USER: reject from the subnet to anything outside it.
package netguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
)

const (
	// NetworkName is the Docker network kind puts its nodes on; kind reuses
	// an existing network of that name instead of creating one.
	NetworkName = "kind"
	// DefaultSubnet is the IPv4 subnet given to the kind network when this
	// package creates it. 172.30/16 sits away from Docker's default bridge
	// (172.17/16) and its default pools' first picks (172.18-172.2x).
	DefaultSubnet = "172.30.0.0/16"
	chain         = "DOCKER-USER"
)

// Runner runs a command and returns its standard output; tests replace it.
type Runner func(ctx context.Context, name string, args ...string) (string, error)

func execRunner(ctx context.Context, name string, args ...string) (string, error) {
	return execx.Command(name, args...).Output(ctx)
}

// Guard installs the network and its rule.
type Guard struct {
	Run    Runner
	Logger *slog.Logger
}

// New returns a Guard running real commands; nil logger is silent.
func New(log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{Run: execRunner, Logger: log}
}

// EnsureNetwork creates the IPv4-only kind network with subnet unless a
// network named kind exists, and returns the subnet actually in use.
func (g *Guard) EnsureNetwork(ctx context.Context, subnet string) (string, error) {
	if _, err := netip.ParsePrefix(subnet); err != nil {
		return "", fmt.Errorf("failed to parse subnet %q: %w", subnet, err)
	}
	out, err := g.Run(ctx, "docker", "network", "inspect", NetworkName)
	if err == nil {
		existing, err := IPv4Subnet([]byte(out))
		if err != nil {
			return "", err
		}
		g.Logger.Info("kind network exists", "subnet", existing)
		return existing, nil
	}
	if _, err := g.Run(ctx, "docker", "network", "create", "--driver", "bridge",
		"--subnet", subnet,
		"-o", "com.docker.network.bridge.enable_ip_masquerade=true",
		NetworkName); err != nil {
		return "", fmt.Errorf("failed to create docker network %s: %w", NetworkName, err)
	}
	g.Logger.Info("created kind network", "subnet", subnet)
	return subnet, nil
}

// IPv4Subnet extracts the IPv4 subnet from `docker network inspect` output.
func IPv4Subnet(inspect []byte) (string, error) {
	var nets []struct {
		IPAM struct {
			Config []struct {
				Subnet string `json:"Subnet"`
			} `json:"Config"`
		} `json:"IPAM"`
	}
	if err := json.Unmarshal(inspect, &nets); err != nil {
		return "", fmt.Errorf("failed to decode docker network inspect output: %w", err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
				return p.Masked().String(), nil
			}
		}
	}
	return "", errors.New("failed to find an IPv4 subnet on the kind network")
}

// RuleArgs is the rule specification (without the -I/-C verb and chain).
func RuleArgs(subnet string) []string {
	return []string{"-s", subnet, "!", "-d", subnet, "-m", "comment", "--comment", "flts: keep kind traffic inside its network", "-j", "REJECT"}
}

// Ensure inserts the reject rule for subnet at the top of DOCKER-USER unless
// it is already there. It creates the chain when the engine has not.
func (g *Guard) Ensure(ctx context.Context, subnet string) error {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("failed to guard subnet %q: not an IPv4 prefix", subnet)
	}
	subnet = p.Masked().String()
	if _, err := g.Run(ctx, "iptables", "-n", "-L", chain); err != nil {
		if _, err := g.Run(ctx, "iptables", "-N", chain); err != nil {
			return fmt.Errorf("failed to create chain %s: %w", chain, err)
		}
		// Docker normally hooks DOCKER-USER into FORWARD; do it when it did not.
		if _, err := g.Run(ctx, "iptables", "-C", "FORWARD", "-j", chain); err != nil {
			if _, err := g.Run(ctx, "iptables", "-I", "FORWARD", "-j", chain); err != nil {
				return fmt.Errorf("failed to jump from FORWARD to %s: %w", chain, err)
			}
		}
	}
	rule := RuleArgs(subnet)
	if _, err := g.Run(ctx, "iptables", append([]string{"-C", chain}, rule...)...); err == nil {
		g.Logger.Info("network guard present", "subnet", subnet)
		return nil
	}
	if _, err := g.Run(ctx, "iptables", append([]string{"-I", chain}, rule...)...); err != nil {
		return fmt.Errorf("failed to insert the network guard rule: %w", err)
	}
	g.Logger.Info("network guard installed", "rule", "iptables -I "+chain+" "+strings.Join(rule, " "))
	return nil
}
