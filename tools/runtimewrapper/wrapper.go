// Package runtimewrapper trims the Linux capabilities an OCI runtime is asked
// to grant down to those the host can actually grant.
//
// Why: Docker 20.10 asks runc for every capability on --privileged (kind
// always runs its nodes privileged). On hosts whose bounding set lacks some
// capability (CAP_SYS_RESOURCE on the project machines) runc then fails with
// "unable to apply caps: operation not permitted". The wrapper is registered
// as Docker's default runtime, rewrites the container spec (create/run) or
// the process spec (exec) and then execs the real runc with the same args.
package runtimewrapper

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flts/flts-e2e/pkg/atomicfile"
)

// capNames maps capability numbers to the names the OCI spec uses.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapSet is the set of capability names the host allows.
type CapSet map[string]bool

// ParseCapBnd turns the hexadecimal CapBnd mask of /proc/<pid>/status into a
// set of capability names. Unknown high bits are ignored: the OCI spec can
// only name the capabilities listed above.
func ParseCapBnd(hex string) (CapSet, error) {
	mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
	if err != nil {
		return nil, fmt.Errorf("failed to parse capability mask %q: %w", hex, err)
	}
	set := CapSet{}
	for mask != 0 {
		bit := bits.TrailingZeros64(mask)
		mask &^= 1 << bit
		if bit < len(capNames) {
			set[capNames[bit]] = true
		}
	}
	return set, nil
}

// BoundingSetFromStatus reads CapBnd from a /proc/<pid>/status document.
func BoundingSetFromStatus(status string) (CapSet, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return ParseCapBnd(v)
		}
	}
	return nil, fmt.Errorf("failed to find CapBnd in process status")
}

// capabilityLists are the keys of an OCI "capabilities" object.
var capabilityLists = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// FilterProcess drops disallowed capabilities from an OCI process object
// (the "process" member of config.json, or a whole --process file). Unknown
// members are preserved untouched. It reports whether anything changed.
func FilterProcess(process map[string]json.RawMessage, allowed CapSet) (bool, error) {
	raw, ok := process["capabilities"]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &caps); err != nil {
		return false, fmt.Errorf("failed to decode process.capabilities: %w", err)
	}
	changed := false
	for _, key := range capabilityLists {
		listRaw, ok := caps[key]
		if !ok || string(listRaw) == "null" {
			continue
		}
		var list []string
		if err := json.Unmarshal(listRaw, &list); err != nil {
			return false, fmt.Errorf("failed to decode capabilities.%s: %w", key, err)
		}
		kept := make([]string, 0, len(list))
		for _, c := range list {
			if allowed[c] {
				kept = append(kept, c)
			}
		}
		if len(kept) == len(list) {
			continue
		}
		changed = true
		enc, err := json.Marshal(kept)
		if err != nil {
			return false, fmt.Errorf("failed to encode capabilities.%s: %w", key, err)
		}
		caps[key] = enc
	}
	if !changed {
		return false, nil
	}
	enc, err := json.Marshal(caps)
	if err != nil {
		return false, fmt.Errorf("failed to encode process.capabilities: %w", err)
	}
	process["capabilities"] = enc
	return true, nil
}

// FilterConfigFile rewrites an OCI bundle config.json in place.
func FilterConfigFile(path string, allowed CapSet) error {
	return rewriteJSON(path, func(doc map[string]json.RawMessage) (bool, error) {
		raw, ok := doc["process"]
		if !ok {
			return false, nil
		}
		var process map[string]json.RawMessage
		if err := json.Unmarshal(raw, &process); err != nil {
			return false, fmt.Errorf("failed to decode process: %w", err)
		}
		changed, err := FilterProcess(process, allowed)
		if err != nil || !changed {
			return false, err
		}
		enc, err := json.Marshal(process)
		if err != nil {
			return false, fmt.Errorf("failed to encode process: %w", err)
		}
		doc["process"] = enc
		return true, nil
	})
}

// FilterProcessFile rewrites a runc exec --process JSON file in place.
func FilterProcessFile(path string, allowed CapSet) error {
	return rewriteJSON(path, func(doc map[string]json.RawMessage) (bool, error) {
		return FilterProcess(doc, allowed)
	})
}

// rewriteJSON applies edit and, only when it changed something, replaces the
// file atomically so runc never reads a half-written spec.
func rewriteJSON(path string, edit func(map[string]json.RawMessage) (bool, error)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("failed to decode %s: %w", path, err)
	}
	changed, err := edit(doc)
	if err != nil {
		return fmt.Errorf("failed to filter capabilities in %s: %w", path, err)
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("failed to stat %s: %w", path, err)
	}
	return atomicfile.Write(path, out, info.Mode().Perm())
}

// Plan is what the wrapper must rewrite for one runc invocation.
type Plan struct {
	ConfigPath  string // bundle config.json (create/run), or ""
	ProcessPath string // exec --process file, or ""
}

// PlanFor inspects runc's arguments. runc global flags come before the
// command; command flags after it. Both "--flag value" and "--flag=value"
// forms are accepted.
func PlanFor(args []string) Plan {
	var plan Plan
	cmd := ""
	bundle := ""
	process := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if cmd == "" && !strings.HasPrefix(a, "-") {
			cmd = a
			continue
		}
		if cmd == "" {
			// Global flags taking a value (e.g. --root DIR, --log FILE).
			if !strings.Contains(a, "=") && globalFlagTakesValue(a) {
				i++
			}
			continue
		}
		for _, f := range []struct {
			names []string
			dst   *string
		}{{[]string{"--bundle", "-b"}, &bundle}, {[]string{"--process", "-p"}, &process}} {
			for _, n := range f.names {
				if a == n && i+1 < len(args) {
					*f.dst = args[i+1]
				} else if v, ok := strings.CutPrefix(a, n+"="); ok {
					*f.dst = v
				}
			}
		}
	}
	switch cmd {
	case "create", "run":
		if bundle == "" {
			bundle = "."
		}
		plan.ConfigPath = filepath.Join(bundle, "config.json")
	case "exec":
		plan.ProcessPath = process
	}
	return plan
}

func globalFlagTakesValue(flag string) bool {
	switch flag {
	case "--root", "--log", "--log-format", "--criu", "--rootless":
		return true
	}
	return false
}
