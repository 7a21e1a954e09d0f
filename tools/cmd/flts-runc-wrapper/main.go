// Command flts-runc-wrapper is an OCI runtime registered as Docker's default
// runtime on hosts whose capability bounding set is smaller than what Docker
// asks for on --privileged. It trims the requested capabilities to the
// host's bounding set and execs the real runc with the same arguments.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/flts/flts-e2e/tools/runtimewrapper"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "flts-runc-wrapper: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	plan := runtimewrapper.PlanFor(args)
	if plan.ConfigPath != "" || plan.ProcessPath != "" {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return fmt.Errorf("failed to read own status: %w", err)
		}
		allowed, err := runtimewrapper.BoundingSetFromStatus(string(status))
		if err != nil {
			return err
		}
		if plan.ConfigPath != "" {
			if err := runtimewrapper.FilterConfigFile(plan.ConfigPath, allowed); err != nil {
				return err
			}
		}
		if plan.ProcessPath != "" {
			if err := runtimewrapper.FilterProcessFile(plan.ProcessPath, allowed); err != nil {
				return err
			}
		}
	}
	runc := "/usr/sbin/runc"
	if _, err := os.Stat(runc); err != nil {
		if runc, err = exec.LookPath("runc"); err != nil {
			return fmt.Errorf("failed to find runc: %w", err)
		}
	}
	if err := syscall.Exec(runc, append([]string{runc}, args...), os.Environ()); err != nil {
		return fmt.Errorf("failed to exec %s: %w", runc, err)
	}
	return nil
}
