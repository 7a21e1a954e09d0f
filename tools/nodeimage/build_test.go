package nodeimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/tools/execx/execxtest"
)

// These tests check what Build and Lookup run, in which order, and what a
// failed step leaves behind, with a fake runner: nothing is compiled and
// no engine is needed.

const inspectLabels = "docker image inspect --format {{json .Config.Labels}} "

// fakeBuilder returns options whose kind module is a small fake one (the
// keys hash its files) and a fake runner that knows where it is.
func fakeBuilder(t *testing.T) (Options, *execxtest.Fake) {
	kind := t.TempDir()
	files := filepath.Join(kind, "images", "base", "files")
	if err := os.MkdirAll(filepath.Join(files, "usr", "local", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "usr", "local", "bin", "entrypoint"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := execxtest.New(t).On("go list -m -f {{.Dir}} {{.Version}} sigs.k8s.io/kind", execxtest.Reply(kind+" v0.31.0\n"))
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return Options{RepoRoot: root, CacheDir: t.TempDir(), Runner: fake}, fake
}

// keys returns the node image and metrics-server keys the builder computes.
func keys(t *testing.T, opts Options) (node, metrics string) {
	b, err := newBuilder(t.Context(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	if node, err = b.key(DefaultK8sVersion); err != nil {
		t.Fatal(err)
	}
	if metrics, err = b.metricsServerKey(DefaultK8sVersion); err != nil {
		t.Fatal(err)
	}
	return node, metrics
}

func labelled(key string) execxtest.Handler {
	return execxtest.Reply(`{"` + CacheKeyLabel + `":"` + key + `"}` + "\n")
}

// noBuild are commands that only a build runs.
var noBuild = []string{"go build", "go install", "go mod download", "debootstrap", "docker build", "docker run", "docker commit", "docker import"}

func TestBuildCacheHitRunsNoBuildStep(t *testing.T) {
	opts, fake := fakeBuilder(t)
	nodeKey, msKey := keys(t, opts)
	fake.On(inspectLabels+Ref(DefaultK8sVersion), labelled(nodeKey)).
		On(inspectLabels+MetricsServerImage, labelled(msKey))
	ref, err := Build(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if ref != Ref(DefaultK8sVersion) {
		t.Errorf("ref %q, want %q", ref, Ref(DefaultK8sVersion))
	}
	for _, c := range noBuild {
		if fake.Ran(c) {
			t.Errorf("a cache hit ran %q: %q", c, fake.Calls())
		}
	}
	if !fake.Ran(inspectLabels + MetricsServerImage) {
		t.Errorf("a cache hit must still check the metrics-server image (another version's build may have replaced it): %q", fake.Calls())
	}
}

func TestLookupNamesTheCommandThatBuildsAMissingOrStaleImage(t *testing.T) {
	opts, fake := fakeBuilder(t)
	fake.On(inspectLabels+Ref(DefaultK8sVersion), execxtest.Fail("Error: No such image"))
	if _, err := Lookup(t.Context(), opts); err == nil || !strings.Contains(err.Error(), "is missing: build it with `make node-image K8S_VERSION="+DefaultK8sVersion+"`") {
		t.Errorf("missing image: got %v", err)
	}
	fake.On(inspectLabels+Ref(DefaultK8sVersion), labelled("0123456789abcdef"))
	if _, err := Lookup(t.Context(), opts); err == nil || !strings.Contains(err.Error(), "is stale (cache key 0123456789abcdef") {
		t.Errorf("stale image: got %v", err)
	}
	for _, c := range noBuild {
		if fake.Ran(c) {
			t.Errorf("Lookup ran %q: %q", c, fake.Calls())
		}
	}
}

func TestBuildBaseFailureCancelsTheCompileAndLeavesNoRootfs(t *testing.T) {
	opts, fake := fakeBuilder(t)
	fake.On("docker image inspect", execxtest.Fail("Error: No such image")).
		On("apt-get", execxtest.Reply("")).
		On("debootstrap", execxtest.Fail("E: Couldn't download packages: libc6")).
		// The Kubernetes side starts with the module download; it must be
		// cancelled when the base fails, not run to the end.
		On("go mod download -json k8s.io/kubernetes@", execxtest.Block())
	_, err := Build(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "failed to debootstrap the base") || !strings.Contains(err.Error(), "libc6") {
		t.Fatalf("want the debootstrap error, got %v", err)
	}
	for _, c := range []string{"docker commit", "docker import", "docker build", "go build"} {
		if fake.Ran(c) {
			t.Errorf("ran %q after the base failed: %q", c, fake.Calls())
		}
	}
	left, _ := filepath.Glob(filepath.Join(opts.CacheDir, "rootfs-*"))
	if len(left) != 0 {
		t.Errorf("a failed base left %q", left)
	}
}

func TestAssembleFailureRemovesTheContainerAndCommitsNothing(t *testing.T) {
	opts, fake := fakeBuilder(t)
	b, err := newBuilder(t.Context(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	fake.On("docker run -d --privileged --name flts-nodeimage-build-", execxtest.Reply("c0ffee\n")).
		On("docker cp", execxtest.Reply("")).
		On("docker cp /bin/kubelet", execxtest.Fail("no space left on device")).
		On("docker rm -f flts-nodeimage-build-", execxtest.Reply(""))
	err = b.assemble(context.Background(), Ref(DefaultK8sVersion), "k", DefaultK8sVersion, "base", "/bin", "/bin/crictl", nil)
	if err == nil || !strings.Contains(err.Error(), "failed to copy kubelet into the node") {
		t.Fatalf("want the copy error, got %v", err)
	}
	if !fake.Ran("docker rm -f flts-nodeimage-build-") {
		t.Errorf("the assembly container was left behind: %q", fake.Calls())
	}
	if fake.Ran("docker commit") {
		t.Errorf("committed a half-assembled node: %q", fake.Calls())
	}
}
