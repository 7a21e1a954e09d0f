package cilocal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/flts/flts-e2e/tools/execx"
)

// User is the runner's unprivileged account.
type User struct {
	Name string
	Home string
	UID  uint32
	GID  uint32
}

// Credential makes a process run as the user; nil when this process
// already is that user (only root may switch, even to itself).
func (u *User) Credential() *syscall.Credential {
	if u.UID == uint32(os.Getuid()) && u.GID == uint32(os.Getgid()) {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{u.GID}}
}

// Chown hands path (recursively) to the user.
func (u *User) Chown(path string) error {
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("failed to hand %s to %s: %w", p, u.Name, err)
		}
		return nil
	})
}

// EnsureUser returns the named user, creating it (with a home directory)
// when missing, and gives it passwordless sudo as GitHub's ubuntu runners
// have, installing sudo from the Debian packages when missing. It needs
// root.
func EnsureUser(ctx context.Context, log *slog.Logger, name string) (*User, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("creating the runner's user %q and its sudo rule needs root: run `sudo make ci-local`", name)
	}
	rule := filepath.Join("/etc/sudoers.d", "flts-ci-local-"+name)
	if _, err := user.Lookup(name); err != nil {
		log.Info("creating the runner's user", "user", name)
		if err := execx.Command("useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name).Run(ctx); err != nil {
			return nil, fmt.Errorf("failed to create user %q: %w", name, err)
		}
	} else if _, err := os.Stat(rule); err != nil {
		// An account this tool did not create gets no sudo rule from it,
		// nor its ~/work cleaned.
		return nil, fmt.Errorf("user %q exists and was not created by flts-ci-local (no %s): choose another --user", name, rule)
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		log.Info("installing sudo (Debian package): the workflow's steps escalate with it")
		if err := execx.Command("apt-get", "install", "-y", "--no-install-recommends", "sudo").Run(ctx); err != nil {
			if err := execx.Command("apt-get", "update").Run(ctx); err != nil {
				return nil, fmt.Errorf("failed to update the package lists to install sudo: %w", err)
			}
			if err := execx.Command("apt-get", "install", "-y", "--no-install-recommends", "sudo").Run(ctx); err != nil {
				return nil, fmt.Errorf("failed to install sudo: %w", err)
			}
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("failed to look up user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q has a non-numeric gid %q", name, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %q is root: the runner's user must not be", name)
	}
	if err := writeSudoRule(ctx, rule, name+" ALL=(ALL) NOPASSWD:ALL\n"); err != nil {
		return nil, err
	}
	return &User{Name: name, Home: u.HomeDir, UID: uint32(uid), GID: uint32(gid)}, nil
}

// writeSudoRule installs a sudoers drop-in after visudo accepted it: a
// broken file there would lock sudo for everyone.
func writeSudoRule(ctx context.Context, path, rule string) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == rule {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(rule), 0o440); err != nil {
		return fmt.Errorf("failed to write the sudo rule: %w", err)
	}
	if err := execx.Command("visudo", "-c", "-q", "-f", tmp).Run(ctx); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("visudo rejected the sudo rule: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to install the sudo rule: %w", err)
	}
	return nil
}
