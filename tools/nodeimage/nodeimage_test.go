package nodeimage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/flts/flts-e2e/tools/execx"
)

func TestValidateK8sVersion(t *testing.T) {
	for in, want := range map[string]string{"": DefaultK8sVersion, "v1.34.4": "v1.34.4", "1.34.4": "v1.34.4"} {
		got, err := ValidateK8sVersion(in)
		if err != nil || got != want {
			t.Errorf("ValidateK8sVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ValidateK8sVersion("v1.35.0")
	if err == nil {
		t.Fatal("want error for unsupported version")
	}
	for _, v := range SupportedK8sVersions {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not list %s", err, v)
		}
	}
}

const kubernetesGoMod = `module k8s.io/kubernetes

go 1.24.0

require (
	k8s.io/api v0.0.0
	github.com/spf13/cobra v1.9.1
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/some/fork => github.com/other/fork v1.0.0
)

replace k8s.io/kubelet => ./staging/src/k8s.io/kubelet
`

func TestKubernetesWrapperGoMod(t *testing.T) {
	got, err := KubernetesWrapperGoMod("v1.34.4", kubernetesGoMod, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", []byte(got), nil)
	if err != nil {
		t.Fatalf("wrapper go.mod does not parse: %v\n%s", err, got)
	}
	if f.Module.Mod.Path != "flts.local/k8sbuild" || f.Go.Version != "1.24.0" || len(f.Require) != 1 || f.Require[0].Mod != (module.Version{Path: "k8s.io/kubernetes", Version: "v1.34.4"}) {
		t.Errorf("wrapper go.mod: module %v go %v require %v", f.Module.Mod, f.Go.Version, f.Require)
	}
	if len(f.Replace) != 3 {
		t.Errorf("want the 3 staging replaces, got %d:\n%s", len(f.Replace), got)
	}
	for _, want := range []string{
		"k8s.io/api => k8s.io/api v0.34.4", "k8s.io/client-go => k8s.io/client-go v0.34.4", "k8s.io/kubelet => k8s.io/kubelet v0.34.4",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "fork") {
		t.Errorf("non-staging replace leaked into the wrapper:\n%s", got)
	}
	if _, err := KubernetesWrapperGoMod("v1.34.4", "module x\n", nil); err == nil {
		t.Error("want error when no staging replaces exist")
	}
}

// With etcd and crictl in the same build, every other requirement of
// Kubernetes is pinned to Kubernetes' own version; etcd's are left free.
func TestKubernetesWrapperGoModPinsKubernetesDependencies(t *testing.T) {
	gomod := kubernetesGoMod + `
require (
	google.golang.org/grpc v1.72.1
	go.etcd.io/etcd/client/v3 v3.6.4
	k8s.io/api v0.0.0
)
`
	extra := []module.Version{{Path: "go.etcd.io/etcd/server/v3", Version: "v3.6.5"}, {Path: CrictlModule, Version: "v1.34.0"}}
	got, err := KubernetesWrapperGoMod("v1.34.4", gomod, extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"go.etcd.io/etcd/server/v3 v3.6.5", "sigs.k8s.io/cri-tools v1.34.0",
		"google.golang.org/grpc => google.golang.org/grpc v1.72.1", "k8s.io/api => k8s.io/api v0.34.4",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"go.etcd.io/etcd/client/v3 =>", "k8s.io/api => k8s.io/api v0.0.0"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("wrapper go.mod has %q:\n%s", unwanted, got)
		}
	}
}

func TestKubeadmEtcdVersion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cmd", "kubeadm", "app", "constants")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package constants\n\nconst (\n\t// DefaultEtcdVersion ...\n\tDefaultEtcdVersion = \"3.6.5-0\"\n)\n"
	if err := os.WriteFile(filepath.Join(p, "constants.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := KubeadmEtcdVersion(dir); err != nil || got != "3.6.5-0" {
		t.Errorf("KubeadmEtcdVersion = %q, %v; want 3.6.5-0", got, err)
	}
	if _, err := KubeadmEtcdVersion(t.TempDir()); err == nil {
		t.Error("want an error without kubeadm's constants")
	}
}

func TestCrictlTracks(t *testing.T) {
	for _, c := range []struct {
		k8s, crictl string
		want        bool
	}{{"v1.34.4", "v1.34.0", true}, {"v1.33.13", "v1.34.0", false}, {"v1.32.13", "v1.34.0", false}} {
		if got, err := crictlTracks(c.k8s, c.crictl); err != nil || got != c.want {
			t.Errorf("crictlTracks(%s, %s) = %v, %v; want %v", c.k8s, c.crictl, got, err, c.want)
		}
	}
}

func TestVersionLDFlags(t *testing.T) {
	ld, err := VersionLDFlags("v1.33.13", "2026-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=v1.33.13", "-X k8s.io/component-base/version.gitMinor=33",
		"-X k8s.io/client-go/pkg/version.gitVersion=v1.33.13", "gitTreeState=clean", "buildDate=2026-01-01T00:00:00Z",
	} {
		if !strings.Contains(ld, want) {
			t.Errorf("ldflags lack %q: %s", want, ld)
		}
	}
}

func TestParseKubeadmImages(t *testing.T) {
	out := `registry.k8s.io/kube-apiserver:v1.34.4
registry.k8s.io/kube-controller-manager:v1.34.4
registry.k8s.io/kube-scheduler:v1.34.4
registry.k8s.io/kube-proxy:v1.34.4
registry.k8s.io/coredns/coredns:v1.12.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.5-0
`
	imgs, err := ParseKubeadmImages(out)
	if err != nil {
		t.Fatal(err)
	}
	if imgs.CoreDNS != "registry.k8s.io/coredns/coredns:v1.12.1" || imgs.Etcd != "registry.k8s.io/etcd:3.6.5-0" || imgs.Pause != "registry.k8s.io/pause:3.10.1" {
		t.Errorf("got %+v", imgs)
	}
	if Tag(imgs.Etcd) != "3.6.5-0" || EtcdModuleVersion(Tag(imgs.Etcd)) != "v3.6.5" {
		t.Errorf("etcd tag %q module %q", Tag(imgs.Etcd), EtcdModuleVersion(Tag(imgs.Etcd)))
	}
	if _, pkg := EtcdMainPackage("v3.6.5"); pkg != "go.etcd.io/etcd/server/v3/etcdmain" {
		t.Errorf("etcdmain package %q", pkg)
	}
	if _, err := ParseKubeadmImages(strings.ReplaceAll(out, "registry.k8s.io/pause:3.10.1\n", "")); err == nil {
		t.Error("want error when pause is missing")
	}
}

func TestCNIConflistIsValidPtpChain(t *testing.T) {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type   string `json:"type"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Type   string `json:"type"`
				Ranges [][]struct {
					Subnet string `json:"subnet"`
				} `json:"ranges"`
			} `json:"ipam"`
			Capabilities map[string]bool `json:"capabilities"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(CNIConflist), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "ptp" || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v", conf.Plugins)
	}
	p := conf.Plugins[0]
	if !p.IPMasq || p.IPAM.Type != "host-local" || p.IPAM.Ranges[0][0].Subnet != "10.244.0.0/16" {
		t.Errorf("ptp %+v", p)
	}
	if !conf.Plugins[1].Capabilities["portMappings"] {
		t.Error("portmap lacks portMappings capability")
	}
}

func TestBaseSetupPatchesContainerdAndCreatesHook(t *testing.T) {
	for _, want := range []string{
		"s/restrict_oom_score_adj = false/restrict_oom_score_adj = true/",
		"grep -q 'restrict_oom_score_adj = true'",
		"/kind/bin/mount-product-files.sh",
		"del(.process.rlimits)",
		"systemctl mask systemd-binfmt.service",
	} {
		if !strings.Contains(baseSetupScript, want) {
			t.Errorf("setup script lacks %q", want)
		}
	}
	found := false
	for _, p := range BasePackages {
		found = found || p == "jq"
	}
	if !found {
		t.Error("jq missing from base packages: kind's createContainer hook needs it")
	}
}

func TestKindConfigTomlHasTheFlagThePatchFlips(t *testing.T) {
	// The sed of the setup script must find its target in the kind version
	// the repository's go.mod pins.
	files, version, err := kindBaseFiles(t.Context(), execx.Host{}, filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(files, "etc", "containerd", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "restrict_oom_score_adj = false") {
		t.Errorf("kind %s config.toml lacks restrict_oom_score_adj = false", version)
	}
	if !strings.Contains(string(data), `sandbox_image = "`+SandboxImage+`"`) {
		t.Errorf("kind %s config.toml does not name sandbox image %s", version, SandboxImage)
	}
}

func TestCacheKeyCoversInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", "package a", 0o644)
	write("a_test.go", "package a", 0o644)
	key := func() string {
		k := newKey()
		k.add("k8s", "v1.34.4")
		if err := k.addFiles("src", dir, sourceFile); err != nil {
			t.Fatal(err)
		}
		return k.sum()
	}
	base := key()
	if key() != base {
		t.Fatal("key is not stable")
	}
	write("a_test.go", "package a // changed", 0o644)
	if key() != base {
		t.Error("test files must not change the key")
	}
	write("a.go", "package a // changed", 0o644)
	changed := key()
	if changed == base {
		t.Error("source change did not change the key")
	}
	if err := os.Chmod(filepath.Join(dir, "a.go"), 0o755); err != nil {
		t.Fatal(err)
	}
	if key() == changed {
		t.Error("mode change did not change the key")
	}
	k1, k2 := newKey(), newKey()
	k1.add("a", "1")
	k1.add("b", "2")
	k2.add("b", "2")
	k2.add("a", "1")
	if k1.sum() != k2.sum() {
		t.Error("key depends on insertion order")
	}
	k3 := newKey()
	k3.add("a", "12")
	k3.add("b", "")
	if k3.sum() == k1.sum() {
		t.Error("shifting bytes between parts must change the key")
	}
}

func TestMirrorFrom(t *testing.T) {
	dir := t.TempDir()
	deb822 := filepath.Join(dir, "debian.sources")
	os.WriteFile(deb822, []byte("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"), 0o644)
	if got := mirrorFrom(deb822); got != "http://mirror.example/debian" {
		t.Errorf("deb822: %q", got)
	}
	list := filepath.Join(dir, "sources.list")
	os.WriteFile(list, []byte("# c\ndeb http://security.example/debian-security bookworm-security main\ndeb http://m.example/debian bookworm main\n"), 0o644)
	if got := mirrorFrom(list); got != "http://m.example/debian" {
		t.Errorf("one-line: %q", got)
	}
	if got := mirrorFrom(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing: %q", got)
	}
}

func TestMirrorFromSkipsOptions(t *testing.T) {
	list := filepath.Join(t.TempDir(), "sources.list")
	os.WriteFile(list, []byte("deb [arch=amd64 signed-by=/k.gpg] http://opt.example/debian bookworm main\n"), 0o644)
	if got := mirrorFrom(list); got != "http://opt.example/debian" {
		t.Errorf("got %q", got)
	}
}

func TestPipeCommandsDoesNotHangWhenConsumerFails(t *testing.T) {
	// `yes` never ends on its own: only closing the pipe stops it.
	err := pipeCommands(t.Context(), execx.Host{}, []string{"yes"}, execx.Command("sh", "-c", "head -c 10 >/dev/null; exit 3"))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("want the consumer's failure, got %v", err)
	}
}

func TestPipeCommandsPassesData(t *testing.T) {
	var out strings.Builder
	c := execx.Command("tr", "a-z", "A-Z")
	c.Stdout = &out
	if err := pipeCommands(t.Context(), execx.Host{}, []string{"printf", "hello"}, c); err != nil {
		t.Fatal(err)
	}
	if out.String() != "HELLO" {
		t.Errorf("got %q", out.String())
	}
	if err := pipeCommands(t.Context(), execx.Host{}, []string{"sh", "-c", "exit 4"}, execx.Command("cat")); err == nil {
		t.Error("producer failure not reported")
	}
}

func TestCrictlVersionCoversSupportedVersions(t *testing.T) {
	for _, k8s := range SupportedK8sVersions {
		got, err := CrictlVersion(k8s)
		if err != nil {
			t.Fatalf("CrictlVersion(%s): %v", k8s, err)
		}
		_, kMinor, _, _ := splitVersion(k8s)
		major, minor, _, err := splitVersion(got)
		if err != nil || major != "1" {
			t.Fatalf("CrictlVersion(%s) = %q, not a v1.X.Y release", k8s, got)
		}
		// crictl may be newer than the kubelet (CRI v1 is stable) but
		// never older.
		if len(minor) < len(kMinor) || (len(minor) == len(kMinor) && minor < kMinor) {
			t.Errorf("CrictlVersion(%s) = %s is older than the Kubernetes minor", k8s, got)
		}
	}
	for _, bad := range []string{"v1.35.0", "v1.31.9", "v2.34.0", "v1.34"} {
		if v, err := CrictlVersion(bad); err == nil {
			t.Errorf("CrictlVersion(%q) = %q, want an error", bad, v)
		}
	}
	if ld := CrictlLDFlags("v1.34.0"); !strings.Contains(ld, crictlVersionVar+"=v1.34.0") {
		t.Errorf("CrictlLDFlags does not stamp the version: %q", ld)
	}
}

func TestNodeKeyCoversCrictl(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"tools/nodeimage", "tools/gobuild", "images/pause"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "x.go"), []byte("package x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &builder{opts: Options{RepoRoot: root}}
	in, err := nodeInputsFor(DefaultK8sVersion, "basekey")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := CrictlVersion(DefaultK8sVersion); in.Crictl != want {
		t.Errorf("node inputs crictl = %q, want the pin %q", in.Crictl, want)
	}
	key := func(in nodeInputs) string {
		k, err := b.nodeKey(in)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(in)
	if key(in) != base {
		t.Fatal("node key is not stable")
	}
	other := in
	other.Crictl = "v1.37.0"
	if key(other) == base {
		t.Error("crictl version change did not change the node key")
	}
	if _, err := nodeInputsFor("v1.35.0", "basekey"); err == nil {
		t.Error("want an error for a Kubernetes version without a crictl pin")
	}
}

func TestCheckStaticRejectsNonStatic(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "crictl")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(notELF); err == nil {
		t.Error("want an error for a file that is not ELF")
	}
	// Debian's /bin/sh is dynamically linked against libc.
	if f, err := os.ReadFile("/bin/sh"); err != nil || !strings.HasPrefix(string(f), "\x7fELF") {
		t.Skip("no ELF /bin/sh to check against")
	}
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v, want a dynamically linked error", err)
	}
}

// metrics-server v0.8.0 requires k8s.io v0.33: it builds in the 1.33 and
// 1.34 graphs, and on its own for 1.32 (whose libraries lack the
// compatibility-version APIs it calls).
func TestMetricsServerFits(t *testing.T) {
	gomod := "module sigs.k8s.io/metrics-server\n\ngo 1.24.4\n\nrequire (\n\tk8s.io/api v0.33.2\n\tk8s.io/apiserver v0.33.2\n)\n"
	for minor, want := range map[int]bool{32: false, 33: true, 34: true} {
		got, err := MetricsServerFits(gomod, minor)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("MetricsServerFits(1.%d) = %v, want %v", minor, got, want)
		}
	}
	if _, err := MetricsServerFits("module x\n", 34); err == nil {
		t.Error("want an error for a go.mod without k8s.io/apiserver")
	}
}
