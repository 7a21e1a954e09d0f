package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateThenDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pvc-1_ns_data")
	args := []string{"-p", dir, "-s", "1073741824", "-m", "Filesystem"}
	if err := run(append(args, "-a", "create"), io.Discard); err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("the volume directory was not created: %v", err)
	}
	if fi.Mode().Perm() != 0o777 {
		t.Errorf("mode %v, want 0777 so pods of any user can write", fi.Mode().Perm())
	}
	// Creating again (a retried helper pod) is not an error.
	if err := run(append(args, "-a", "create"), io.Discard); err != nil {
		t.Fatalf("second create: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(append(args, "-a", "delete"), io.Discard); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the volume directory survived delete: %v", err)
	}
}

func TestRejectsBadInput(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "create"}, "-p is required"},
		{[]string{"-p", "relative/dir", "-a", "create"}, "absolute"},
		{[]string{"-p", tmp + "/a/../pvc-b", "-a", "create"}, "clean"},
		{[]string{"-p", "/", "-a", "delete"}, "too close to the root"},
		{[]string{"-p", "/var", "-a", "delete"}, "too close to the root"},
		{[]string{"-p", "/var/local-path-provisioner", "-a", "delete"}, "not a volume directory"},
		{[]string{"-p", tmp + "/pvc-v", "-m", "Block", "-a", "create"}, "only Filesystem"},
		{[]string{"-p", tmp + "/pvc-v", "-a", "resize"}, "create or delete"},
		{[]string{"-p", tmp + "/pvc-v", "-a", "create", "extra"}, "unexpected arguments"},
	} {
		err := run(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(tmp + "/pvc-v"); !os.IsNotExist(err) {
		t.Error("a rejected call created the directory")
	}
}
