package nodeimage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/progress"
)

// copyKindFiles lays kind's base files into rootfs with the modes kind's
// Dockerfile gives them: executables under usr/local/bin and kind/bin.
func copyKindFiles(src, rootfs string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(rootfs, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		return copyFile(path, dst, mode)
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", src, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(dst), err)
	}
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", dst, err)
	}
	return os.Chmod(dst, mode)
}

// DebianKeyring verifies the Debian archive on hosts that are not Debian
// (an Ubuntu CI runner): Debian's keyring package installs it there too.
const DebianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

func (b *builder) ensureDebootstrap(ctx context.Context) error {
	_, lookErr := exec.LookPath("debootstrap")
	_, keyErr := os.Stat(DebianKeyring)
	if lookErr == nil && keyErr == nil {
		return nil
	}
	if err := b.run.Run(ctx, execx.Command("apt-get", "update")); err != nil {
		return fmt.Errorf("failed to update apt indexes: %w", err)
	}
	cmd := execx.Command("apt-get", "install", "-y", "debootstrap", "debian-archive-keyring")
	cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := b.run.Run(ctx, cmd); err != nil {
		return fmt.Errorf("failed to install debootstrap: %w", err)
	}
	return nil
}

// DebianMirror returns the first Debian mirror the host's apt sources name
// (the machines' sources already point at a reachable mirror). On a host
// that is not Debian those sources name another distribution's archive, so
// Debian's own mirror is used.
func DebianMirror() string {
	if !isDebian("/etc/os-release") {
		return "http://deb.debian.org/debian"
	}
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		if m := mirrorFrom(f); m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

func mirrorFrom(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "URIs:"); ok {
			for _, u := range strings.Fields(v) {
				if !strings.Contains(u, "security") {
					return u
				}
			}
		}
		if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == "deb" {
			// Skip the optional "[signed-by=... arch=...]" block.
			rest := fields[1:]
			if strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 {
					closed := strings.HasSuffix(rest[0], "]")
					rest = rest[1:]
					if closed {
						break
					}
				}
			}
			if len(rest) > 0 && !strings.Contains(rest[0], "security") {
				return rest[0]
			}
		}
	}
	return ""
}

// step starts a long step: it logs its start, a heartbeat while it runs
// and its end with the elapsed time (progress.Step).
func (b *builder) step(name string) *progress.Step { return progress.Start(b.log, name, 0) }

// isDebian reports whether the os-release file names Debian (ID=debian).
func isDebian(osRelease string) bool {
	data, err := os.ReadFile(osRelease)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ID="); ok {
			return strings.Trim(v, `"'`) == "debian"
		}
	}
	return false
}
