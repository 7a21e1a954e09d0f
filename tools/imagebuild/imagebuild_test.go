package imagebuild

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseModuleTxt(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "github.com/nats-io/nats-server/v2@v2.15.3\n", want: "github.com/nats-io/nats-server/v2@v2.15.3"},
		{in: "# comment\n\n sigs.k8s.io/metrics-server/cmd/metrics-server@v0.8.0 \n", want: "sigs.k8s.io/metrics-server/cmd/metrics-server@v0.8.0"},
		{in: "github.com/minio/minio@latest", wantErr: true},
		{in: "github.com/minio/minio", wantErr: true},
		{in: "a@v1\nb@v2", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, c := range cases {
		got, err := parseModuleTxt([]byte(c.in))
		if c.wantErr {
			if err == nil {
				t.Errorf("parseModuleTxt(%q) = %q, want error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseModuleTxt(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestBinaryName(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/nats-io/nats-server/v2@v2.15.3":             "nats-server",
		"github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c": "minio",
		"sigs.k8s.io/metrics-server/cmd/metrics-server@v0.8.0":  "metrics-server",
		"example.com/tool/v10":                                  "tool",
		"example.com/v":                                         "v",
	} {
		if got := BinaryName(pkg); got != want {
			t.Errorf("BinaryName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestContextKeyChangesWithContentAndMode(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n", 0o644)
	write("app", "binary-1", 0o755)
	k1, err := ContextKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k1again, _ := ContextKey(dir)
	if k1 != k1again {
		t.Fatalf("key not stable: %s vs %s", k1, k1again)
	}
	write("app", "binary-2", 0o755)
	k2, _ := ContextKey(dir)
	if k2 == k1 {
		t.Fatal("key did not change with content")
	}
	write("app", "binary-2", 0o644)
	k3, _ := ContextKey(dir)
	if k3 == k2 {
		t.Fatal("key did not change with mode")
	}
}

func TestBuildRejectsMissingImage(t *testing.T) {
	b, err := New(Options{RepoRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(t.Context(), "nope"); err == nil {
		t.Fatal("want error for a missing image folder")
	}
}

func TestNewRequiresRepoRoot(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("want error without RepoRoot")
	}
}
