package nodeimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
)

// BaseSuite is the Debian release of the base: kind v0.30 expects bookworm.
const BaseSuite = "bookworm"

// BasePackages are installed into the base root file system. jq is needed
// by kind's createContainer hook (mount-product-files.sh): without it every
// pod sandbox fails with "can't get final child's PID from pipe: EOF".
var BasePackages = []string{
	"systemd", "systemd-sysv", "dbus", "iptables", "nftables", "iproute2", "ethtool",
	"util-linux", "mount", "kmod", "socat", "conntrack", "ebtables", "ca-certificates",
	"procps", "libseccomp2", "containerd", "runc", "containernetworking-plugins",
	"bash", "jq", "pigz",
}

// baseSetupScript runs inside the base root file system (chroot) and does
// what kind's base Dockerfile does after installing packages.
const baseSetupScript = `set -eu
chmod 755 /kind/bin
ln -sf /usr/bin/containerd /usr/local/bin/containerd
ln -sf /usr/bin/ctr /usr/local/bin/ctr
ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2
ln -sf /usr/sbin/runc /usr/local/sbin/runc
mkdir -p /opt/cni/bin /etc/cni/net.d /etc/kubernetes/manifests
for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf "$(command -v systemd || echo /lib/systemd/systemd)" /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
# Without CAP_SYS_RESOURCE static pods (oom_score_adj -997/-998) fail with
# "failed to update /proc/self/oom_score_adj: Permission denied".
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml
ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /tmp/* /var/cache/debconf/*-old
`

// kindBaseFiles returns the images/base/files directory of the kind module
// the repository's go.mod pins, and that module's version.
func kindBaseFiles(ctx context.Context, run execx.Runner, repoRoot string) (dir, version string, err error) {
	cmd := execx.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "sigs.k8s.io/kind")
	cmd.Dir = repoRoot
	out, err := run.Output(ctx, cmd)
	if err != nil {
		return "", "", fmt.Errorf("failed to locate the kind module: %w", err)
	}
	fields := strings.Fields(out)
	if len(fields) != 2 || fields[0] == "" {
		// An empty Dir means the module is not downloaded yet.
		dl := execx.Command("go", "mod", "download", "sigs.k8s.io/kind")
		dl.Dir = repoRoot
		if err := run.Run(ctx, dl); err != nil {
			return "", "", fmt.Errorf("failed to download the kind module: %w", err)
		}
		return kindBaseFiles(ctx, run, repoRoot)
	}
	return filepath.Join(fields[0], "images", "base", "files"), fields[1], nil
}

// baseKey is the content key of the base image.
func (b *builder) baseKey() (string, error) {
	k := newKey()
	k.add("suite", BaseSuite)
	k.add("packages", strings.Join(BasePackages, ","))
	k.add("setup", baseSetupScript)
	k.add("kind", b.kindVersion)
	// The mirror is not an input: it serves the same packages anywhere,
	// and a bundle built elsewhere must still match on an air-gapped runner.
	if err := k.addFiles("kindfiles", b.kindFiles, nil); err != nil {
		return "", err
	}
	src, err := os.ReadFile(filepath.Join(b.opts.RepoRoot, "tools", "nodeimage", "base.go"))
	if err != nil {
		return "", fmt.Errorf("failed to read builder source: %w", err)
	}
	k.add("base.go", string(src))
	return k.sum(), nil
}

// ensureBase returns the base image reference, building it if needed.
func (b *builder) ensureBase(ctx context.Context) (string, error) {
	key, err := b.baseKey()
	if err != nil {
		return "", err
	}
	ref := "flts.local/kind-base:" + key
	if b.imageKey(ctx, ref) == key {
		b.log.Info("base image cached", "ref", ref)
		return ref, nil
	}
	step := b.step("base: debootstrap " + BaseSuite)
	defer step.Stop()
	if err := b.ensureDebootstrap(ctx); err != nil {
		return "", err
	}
	rootfs := filepath.Join(b.opts.CacheDir, "rootfs-"+key)
	if err := os.RemoveAll(rootfs); err != nil {
		return "", fmt.Errorf("failed to clean %s: %w", rootfs, err)
	}
	defer os.RemoveAll(rootfs)
	deb := execx.Command("debootstrap", "--variant=minbase", "--keyring="+DebianKeyring,
		"--include="+strings.Join(BasePackages, ","), BaseSuite, rootfs, b.mirror)
	if err := b.run.Run(ctx, deb); err != nil {
		return "", fmt.Errorf("failed to debootstrap the base: %w", err)
	}
	step.Done()
	step = b.step("base: kind files and setup")
	defer step.Stop()
	if err := copyKindFiles(b.kindFiles, rootfs); err != nil {
		return "", err
	}
	setup := execx.Command("chroot", rootfs, "/bin/sh", "-c", baseSetupScript)
	if err := b.run.Run(ctx, setup); err != nil {
		return "", fmt.Errorf("failed to set up the base root file system: %w", err)
	}
	step.Done()
	step = b.step("base: docker import")
	defer step.Stop()
	tmpRef := ref + "-import"
	imp := execx.Command("docker", "import",
		"--change", "ENV container=docker",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"-", tmpRef)
	if err := pipeCommands(ctx, b.run, []string{"tar", "--numeric-owner", "-C", rootfs, "-c", "."}, imp); err != nil {
		return "", fmt.Errorf("failed to import the base image: %w", err)
	}
	if err := b.finishImage(ctx, tmpRef, ref, key); err != nil {
		return "", err
	}
	step.Done()
	return ref, nil
}
