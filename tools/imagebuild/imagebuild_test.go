package imagebuild

import (
	"os"
	"path/filepath"
	"slices"
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

func TestInputKeyFollowsTheImageAndItsPackages(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	key := func(name string) string {
		t.Helper()
		k, err := InputKey(root, name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write("tools/imagebuild/imagebuild.go", "package imagebuild\n", 0o644)
	write("tools/gobuild/gobuild.go", "package gobuild\n", 0o644)
	write("go.mod", "module example.com/m\n", 0o644)
	write("go.sum", "", 0o644)
	write("images/app/Dockerfile", "FROM scratch\n", 0o644)
	write("images/app/main.go", "package main\n", 0o644)
	write("pkg/lib/lib.go", "package lib\n", 0o644)
	write("images/srv/Dockerfile", "FROM scratch\n", 0o644)
	write("images/srv/module.txt", "example.com/srv@v1.0.0\n", 0o644)

	app, srv := key("app"), key("srv")
	if again := key("app"); again != app {
		t.Fatalf("key not stable: %s vs %s", app, again)
	}
	write("pkg/lib/lib_test.go", "package lib\n", 0o644)
	write("pkg/lib/testdata/x.json", "{}", 0o644)
	if key("app") != app {
		t.Error("a test file or testdata changed the key")
	}
	write("pkg/lib/lib.go", "package lib // changed\n", 0o644)
	app2 := key("app")
	if app2 == app {
		t.Error("a change under pkg/ did not change the key of an image of this module")
	}
	if key("srv") != srv {
		t.Error("a change under pkg/ changed the key of a module.txt image")
	}
	write("images/app/main.go", "package main\n", 0o755)
	if key("app") == app2 {
		t.Error("a mode change did not change the key")
	}
	srv2 := key("srv")
	write("images/srv/module.txt", "example.com/srv@v1.0.1\n", 0o644)
	if key("srv") == srv2 {
		t.Error("a new module.txt version did not change the key")
	}
	srv3 := key("srv")
	write("images/srv/Dockerfile", "FROM scratch\n", 0o664)
	if key("srv") != srv3 {
		t.Error("a group-write bit (the umask) changed the key")
	}
	write("tools/gobuild/gobuild.go", "package gobuild // new flags\n", 0o644)
	if key("srv") == srv3 {
		t.Error("a change to how images are compiled did not change the key")
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

func TestCopyContextTakesDataFilesNotSources(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for name, body := range map[string]string{"Dockerfile": "FROM scratch\n", "config.yml": "version: 0.1\n", "main.go": "package main\n", "module.txt": "x@v1\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyContext(src, dst); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"Dockerfile", "config.yml"}; !slices.Equal(got, want) {
		t.Errorf("context = %v, want %v", got, want)
	}
}
