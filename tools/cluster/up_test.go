package cluster

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
)

// fakeProvider records what createOrReuse asks of kind.
type fakeProvider struct {
	clusters  []string
	createErr error
	calls     []string
}

func (p *fakeProvider) List() ([]string, error) { return slices.Clone(p.clusters), nil }

func (p *fakeProvider) Create(name string, _ ...kindcluster.CreateOption) error {
	p.calls = append(p.calls, "create "+name)
	if p.createErr != nil {
		return p.createErr
	}
	p.clusters = append(p.clusters, name)
	return nil
}

func (p *fakeProvider) Delete(name, _ string) error {
	p.calls = append(p.calls, "delete "+name)
	p.clusters = slices.DeleteFunc(p.clusters, func(c string) bool { return c == name })
	return nil
}

func (p *fakeProvider) ExportKubeConfig(name, _ string, _ bool) error {
	p.calls = append(p.calls, "kubeconfig "+name)
	return nil
}

func (p *fakeProvider) CollectLogs(name, dir string) error {
	p.calls = append(p.calls, "logs "+name+" "+filepath.Base(dir))
	return nil
}

func (p *fakeProvider) ListInternalNodes(string) ([]nodes.Node, error) { return nil, nil }

func upCase(t *testing.T, existing []string, reuse, healthy bool, readyErr error) (*fakeProvider, error) {
	t.Helper()
	p := &fakeProvider{clusters: existing}
	c := &Cluster{Name: "e2e", NodeImage: "flts.local/kind-node:v1.34.4", provider: p, log: slog.New(slog.DiscardHandler)}
	opts := Options{Name: "e2e", Reuse: reuse, DiagnosticsDir: filepath.Join(t.TempDir(), "kind")}
	err := c.createOrReuse(context.Background(), opts, &v1alpha4.Cluster{}, steps{
		healthy: func(context.Context) bool { return healthy },
		ready:   func(context.Context) error { return readyErr },
	})
	return p, err
}

func TestUpReplacesALeftoverCluster(t *testing.T) {
	p, err := upCase(t, []string{"other", "e2e"}, false, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"delete e2e", "create e2e"}; !slices.Equal(p.calls, want) {
		t.Errorf("calls %q, want %q", p.calls, want)
	}
	if !slices.Contains(p.clusters, "other") {
		t.Error("another cluster was touched")
	}
}

func TestUpReusesOnlyAHealthyCluster(t *testing.T) {
	p, err := upCase(t, []string{"e2e"}, true, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kubeconfig e2e"}; !slices.Equal(p.calls, want) {
		t.Errorf("healthy reuse: calls %q, want %q", p.calls, want)
	}
	p, err = upCase(t, []string{"e2e"}, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kubeconfig e2e", "delete e2e", "create e2e"}; !slices.Equal(p.calls, want) {
		t.Errorf("unhealthy reuse: calls %q, want %q", p.calls, want)
	}
}

func TestUpDeletesWhatItCreatedWhenNotReady(t *testing.T) {
	notReady := errors.New("metrics API not available")
	p, err := upCase(t, nil, false, true, notReady)
	if !errors.Is(err, notReady) || !strings.Contains(err.Error(), "deleted it") {
		t.Fatalf("want the readiness error, saying the cluster was deleted; got %v", err)
	}
	if want := []string{"create e2e", "logs e2e kind", "delete e2e"}; !slices.Equal(p.calls, want) {
		t.Errorf("calls %q, want %q (logs saved before the delete)", p.calls, want)
	}
	if len(p.clusters) != 0 {
		t.Errorf("clusters left: %q", p.clusters)
	}
}

func TestUpKeepsAReusedClusterThatIsNotReady(t *testing.T) {
	notReady := errors.New("coredns not ready")
	p, err := upCase(t, []string{"e2e"}, true, true, notReady)
	if !errors.Is(err, notReady) || !strings.Contains(err.Error(), "kept for inspection") {
		t.Fatalf("got %v", err)
	}
	if slices.Contains(p.calls, "delete e2e") || !slices.Contains(p.clusters, "e2e") {
		t.Errorf("a reused cluster was deleted: calls %q", p.calls)
	}
}

func TestUpReportsAFailedCreate(t *testing.T) {
	p := &fakeProvider{createErr: errors.New("failed to init node with kubeadm")}
	c := &Cluster{Name: "e2e", NodeImage: "img", provider: p, log: slog.New(slog.DiscardHandler)}
	err := c.createOrReuse(context.Background(), Options{Name: "e2e"}, &v1alpha4.Cluster{}, steps{
		healthy: func(context.Context) bool { return true },
		ready: func(context.Context) error {
			t.Error("ready ran after a failed create")
			return nil
		},
	})
	if err == nil || !strings.Contains(err.Error(), "failed to create kind cluster e2e with image img") {
		t.Fatalf("got %v", err)
	}
}

func TestCreateConfigUsesKindnetForImagesBuiltElsewhere(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "..", DefaultConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	if got := createConfig(cfg, false); got != cfg || !got.Networking.DisableDefaultCNI {
		t.Errorf("the node image built here must get the file as is (its CNI baked in), got DisableDefaultCNI=%t", got.Networking.DisableDefaultCNI)
	}
	ext := createConfig(cfg, true)
	if ext.Networking.DisableDefaultCNI {
		t.Error("a node image built elsewhere has no baked CNI: kind's default (kindnetd) must stay enabled")
	}
	if !cfg.Networking.DisableDefaultCNI {
		t.Error("createConfig changed the caller's config")
	}
	if len(ext.Nodes) != len(cfg.Nodes) || len(ext.KubeadmConfigPatches) != len(cfg.KubeadmConfigPatches) {
		t.Errorf("the rest of the config must be kept: nodes %d/%d, patches %d/%d", len(ext.Nodes), len(cfg.Nodes), len(ext.KubeadmConfigPatches), len(cfg.KubeadmConfigPatches))
	}
}
