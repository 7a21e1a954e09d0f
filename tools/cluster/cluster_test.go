package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/flts/flts-e2e/tools/nodeimage"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join("..", "..", rel)
}

func TestFixtureKindConfig(t *testing.T) {
	cfg, err := LoadConfig(repoFile(t, DefaultConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got := HostPorts(cfg); len(got) != 1 || got[0] != "127.0.0.1:30080" {
		t.Errorf("host ports %v", got)
	}
	m := cfg.Nodes[0].ExtraPortMappings[0]
	if m.ContainerPort != 30080 || cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Errorf("mapping %+v role %s", m, cfg.Nodes[0].Role)
	}
	patches := strings.Join(cfg.KubeadmConfigPatches, "\n")
	for _, want := range []string{`horizontal-pod-autoscaler-sync-period: "10s"`, "kind: KubeletConfiguration", "failCgroupV1: false"} {
		if !strings.Contains(patches, want) {
			t.Errorf("kubeadm patches lack %q", want)
		}
	}
}

func TestCheckConfigRejectsWhatCannotWorkOffline(t *testing.T) {
	good := func() *v1alpha4.Cluster {
		return &v1alpha4.Cluster{Networking: v1alpha4.Networking{DisableDefaultCNI: true}, Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}}}
	}
	if err := CheckConfig(good()); err != nil {
		t.Fatal(err)
	}
	c := good()
	c.Networking.DisableDefaultCNI = false
	if err := CheckConfig(c); err == nil || !strings.Contains(err.Error(), "disableDefaultCNI") {
		t.Errorf("default CNI accepted: %v", err)
	}
	c = good()
	c.Networking.IPFamily = v1alpha4.IPv6Family
	if err := CheckConfig(c); err == nil {
		t.Error("ipv6 accepted")
	}
	c = good()
	c.Nodes = append(c.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	if err := CheckConfig(c); err == nil {
		t.Error("two nodes accepted with the single-node CNI")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodez: []\n"), 0o644)
	if _, err := LoadConfig(bad); err == nil {
		t.Error("unknown field accepted")
	}
	wrong := filepath.Join(dir, "wrong.yaml")
	os.WriteFile(wrong, []byte("kind: Pod\napiVersion: v1\n"), 0o644)
	if _, err := LoadConfig(wrong); err == nil {
		t.Error("wrong kind accepted")
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestCheckPortsFreeReportsTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = CheckPortsFree([]string{l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("taken port not reported: %v", err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	if err := CheckPortsFree([]string{addr}); err != nil {
		t.Errorf("free port reported taken: %v", err)
	}
}

func TestMetricsServerManifest(t *testing.T) {
	data, err := os.ReadFile(repoFile(t, MetricsServerManifest))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = true
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		c := containers[0].(map[string]any)
		if c["image"] != nodeimage.MetricsServerImage {
			t.Errorf("image %v, want %s", c["image"], nodeimage.MetricsServerImage)
		}
		args := strings.Join(toStrings(c["args"]), " ")
		for _, want := range []string{"--kubelet-insecure-tls", "--metric-resolution=10s", "--kubelet-request-timeout=5s", "--kubelet-preferred-address-types=InternalIP"} {
			if !strings.Contains(args, want) {
				t.Errorf("args lack %s", want)
			}
		}
		// metrics-server panics at start unless the resolution exceeds the
		// kubelet request timeout.
		var resolution, timeout time.Duration
		for _, a := range toStrings(c["args"]) {
			if v, ok := strings.CutPrefix(a, "--metric-resolution="); ok {
				resolution, _ = time.ParseDuration(v)
			}
			if v, ok := strings.CutPrefix(a, "--kubelet-request-timeout="); ok {
				timeout, _ = time.ParseDuration(v)
			}
		}
		if resolution <= timeout {
			t.Errorf("--metric-resolution %v must exceed --kubelet-request-timeout %v", resolution, timeout)
		}
		cpu := c["resources"].(map[string]any)["requests"].(map[string]any)["cpu"]
		if cpu != "20m" {
			t.Errorf("cpu request %v", cpu)
		}
	}
	for _, want := range []string{"APIService/v1beta1.metrics.k8s.io", "Deployment/metrics-server", "Service/metrics-server", "ServiceAccount/metrics-server"} {
		if !kinds[want] {
			t.Errorf("manifest lacks %s", want)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestDecodeManifestRejectsIncompleteObjects(t *testing.T) {
	if _, err := DecodeManifest([]byte("apiVersion: v1\nkind: ConfigMap\n")); err == nil {
		t.Error("object without a name accepted")
	}
	objs, err := DecodeManifest([]byte("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"))
	if err != nil || len(objs) != 1 {
		t.Errorf("got %d objects, %v", len(objs), err)
	}
}

func TestCountNodeMetrics(t *testing.T) {
	n, err := countNodeMetrics([]byte(`{"items":[{"usage":{"cpu":"120m","memory":"1Gi"}},{"usage":{"memory":"1Gi"}}]}`))
	if err != nil || n != 1 {
		t.Errorf("got %d %v", n, err)
	}
	if _, err := countNodeMetrics([]byte(`<html>`)); err == nil {
		t.Error("want error for non-JSON body")
	}
}

func TestPollReportsLastReasonAndHardErrors(t *testing.T) {
	calls := 0
	err := poll(t.Context(), 50*time.Millisecond, "thing", func(context.Context) (bool, string, error) {
		calls++
		return false, fmt.Sprintf("%d of 2 ready", calls%2), nil
	})
	if err == nil || !strings.Contains(err.Error(), "failed to wait for thing within 50ms: ") || !strings.Contains(err.Error(), "of 2 ready") {
		t.Errorf("timeout error %v lacks the last reason", err)
	}
	boom := errors.New("forbidden")
	err = poll(t.Context(), time.Minute, "thing", func(context.Context) (bool, string, error) { return false, "", boom })
	if !errors.Is(err, boom) {
		t.Errorf("hard error %v, want %v wrapped at once", err, boom)
	}
	if err := poll(t.Context(), time.Minute, "thing", func(context.Context) (bool, string, error) { return true, "", nil }); err != nil {
		t.Errorf("done at once: %v", err)
	}
}
