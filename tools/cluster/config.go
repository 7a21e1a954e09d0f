package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// LoadConfig reads a kind v1alpha4 cluster config.
func LoadConfig(path string) (*v1alpha4.Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read kind config: %w", err)
	}
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("failed to decode kind config %s: %w", path, err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind config %s: want kind Cluster apiVersion kind.x-k8s.io/v1alpha4, got %s %s", path, cfg.Kind, cfg.APIVersion)
	}
	return &cfg, nil
}

// CheckConfig enforces what the offline cluster depends on.
func CheckConfig(cfg *v1alpha4.Cluster) error {
	if !cfg.Networking.DisableDefaultCNI {
		return errors.New("kind config must set networking.disableDefaultCNI: true (kindnetd cannot be pulled offline; the node image bakes its own CNI)")
	}
	if cfg.Networking.IPFamily != "" && cfg.Networking.IPFamily != v1alpha4.IPv4Family {
		return fmt.Errorf("kind config networking.ipFamily %q: only ipv4 is supported (the network guard is IPv4)", cfg.Networking.IPFamily)
	}
	if len(cfg.Nodes) != 1 {
		return fmt.Errorf("kind config has %d nodes: the baked ptp CNI supports exactly one", len(cfg.Nodes))
	}
	return nil
}

// HostPorts lists the host addresses the config's port mappings bind.
func HostPorts(cfg *v1alpha4.Cluster) []string {
	var addrs []string
	for _, n := range cfg.Nodes {
		for _, m := range n.ExtraPortMappings {
			if m.HostPort <= 0 {
				continue
			}
			host := m.ListenAddress
			if host == "" {
				host = "0.0.0.0"
			}
			addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(int(m.HostPort))))
		}
	}
	return addrs
}

// CheckPortsFree fails with a clear message when a mapped host port is taken.
func CheckPortsFree(addrs []string) error {
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("host port %s is already in use (another kind cluster or process?): free it or change extraPortMappings: %w", a, err)
		}
		_ = l.Close()
	}
	return nil
}
