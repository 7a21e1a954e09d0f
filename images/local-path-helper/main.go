// Command local-path-helper creates or removes one volume directory for
// rancher's local-path-provisioner, in place of its busybox scripts: no
// shell image can be pulled here. The provisioner runs it (its config's
// setupCommand and teardownCommand) in a pod that mounts the volume's
// parent directory from the node, as
//
//	local-path-helper -p PATH -s SIZE_BYTES -m Filesystem -a create|delete
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "local-path-helper: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("local-path-helper", flag.ContinueOnError)
	fs.SetOutput(out)
	path := fs.String("p", "", "the volume directory (absolute)")
	// A directory has no quota: the size is logged, not enforced, as
	// upstream's scripts do.
	size := fs.Int64("s", 0, "requested size in bytes")
	mode := fs.String("m", "Filesystem", "volume mode (only Filesystem)")
	action := fs.String("a", "", "create or delete")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	dir, err := volumeDir(*path)
	if err != nil {
		return err
	}
	if *mode != "Filesystem" {
		return fmt.Errorf("volume mode %q is not supported: only Filesystem", *mode)
	}
	switch *action {
	case "create":
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("failed to create %s: %w", dir, err)
		}
		// 0777 despite the umask: the pods using the volume run as any
		// user, and a hostPath volume gets no fsGroup ownership change.
		if err := os.Chmod(dir, 0o777); err != nil {
			return fmt.Errorf("failed to open %s to every user: %w", dir, err)
		}
		fmt.Fprintf(out, "created %s (%d bytes requested)\n", dir, *size)
	case "delete":
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("failed to remove %s: %w", dir, err)
		}
		fmt.Fprintf(out, "removed %s\n", dir)
	default:
		return fmt.Errorf("-a must be create or delete, got %q", *action)
	}
	return nil
}

// volumeDir checks the directory the provisioner names: absolute, clean, at
// least two levels deep and named as a volume, so a misconfigured path can
// never make the helper remove "/", a top-level directory or the root of
// every volume.
func volumeDir(p string) (string, error) {
	if p == "" {
		return "", errors.New("-p is required")
	}
	// The provisioner may pass a trailing slash; anything else unclean
	// (.., //) is refused.
	if !filepath.IsAbs(p) || (filepath.Clean(p) != p && filepath.Clean(p)+"/" != p) {
		return "", fmt.Errorf("-p %q must be an absolute, clean path", p)
	}
	dir := filepath.Clean(p)
	if filepath.Dir(dir) == "/" || dir == "/" {
		return "", fmt.Errorf("-p %q is too close to the root to be a volume directory", p)
	}
	// The provisioner names a volume's directory after its volume
	// (pvc-<uid>_<namespace>_<claim>): anything else, the volume root
	// itself included, is not one volume and is never created or removed.
	if !strings.HasPrefix(filepath.Base(dir), "pvc-") {
		return "", fmt.Errorf("-p %q is not a volume directory (pvc-…)", p)
	}
	return dir, nil
}
