package reporoot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindFrom(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A nested module of another name is walked past.
	if err := os.WriteFile(filepath.Join(root, "a", "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindFrom(deep); err == nil {
		t.Fatal("found a root without the flts-e2e go.mod")
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("// c\nmodule "+ModulePath+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FindFrom(deep)
	if err != nil {
		t.Fatal(err)
	}
	if got != root {
		t.Errorf("FindFrom = %s, want %s", got, root)
	}
}

func TestArtifactsDir(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"", "/repo/_artifacts"}, {"out", "/repo/out"}, {"/abs/a", "/abs/a"},
	} {
		if got := ArtifactsDir("/repo", c.env); got != c.want {
			t.Errorf("ArtifactsDir(%q) = %s, want %s", c.env, got, c.want)
		}
	}
}
