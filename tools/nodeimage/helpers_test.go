package nodeimage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsDebian(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]bool{
		"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n": true,
		"NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n":                false,
		"ID=\"debian\"\n": true,
		"":                false,
	} {
		p := filepath.Join(dir, "os-release")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := isDebian(p); got != want {
			t.Errorf("isDebian(%q) = %v, want %v", body, got, want)
		}
	}
	if isDebian(filepath.Join(dir, "missing")) {
		t.Error("a missing os-release is not Debian")
	}
}
