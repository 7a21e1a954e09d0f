package runtimewrapper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// thisMachineMask is the bounding set of the project machines: every
// capability up to CAP_CHECKPOINT_RESTORE except CAP_SYS_RESOURCE (bit 24).
const thisMachineMask = "000001fffeffffff"

func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func decodeCaps(t *testing.T, raw json.RawMessage) map[string][]string {
	t.Helper()
	var caps map[string][]string
	if err := json.Unmarshal(raw, &caps); err != nil {
		t.Fatal(err)
	}
	return caps
}

func TestParseCapBnd(t *testing.T) {
	set, err := ParseCapBnd(thisMachineMask)
	if err != nil {
		t.Fatal(err)
	}
	if set["CAP_SYS_RESOURCE"] {
		t.Error("CAP_SYS_RESOURCE should be absent")
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_CHECKPOINT_RESTORE", "CAP_NET_ADMIN"} {
		if !set[c] {
			t.Errorf("%s should be present", c)
		}
	}
	if len(set) != len(capNames)-1 {
		t.Errorf("got %d caps, want %d", len(set), len(capNames)-1)
	}
	if _, err := ParseCapBnd("zz"); err == nil {
		t.Error("want error for bad mask")
	}
}

func TestBoundingSetFromStatus(t *testing.T) {
	status := "Name:\tcat\nCapInh:\t0000000000000000\nCapBnd:\t0000000000000003\nCapAmb:\t0000000000000000\n"
	set, err := BoundingSetFromStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if !set["CAP_CHOWN"] || !set["CAP_DAC_OVERRIDE"] || len(set) != 2 {
		t.Errorf("got %v", set)
	}
	if _, err := BoundingSetFromStatus("Name:\tx\n"); err == nil {
		t.Error("want error when CapBnd is missing")
	}
}

func TestFilterConfigFileDropsMissingCapsAndKeepsTheRest(t *testing.T) {
	path := copyTestdata(t, "config.json")
	before, _ := os.ReadFile(path)
	allowed, _ := ParseCapBnd(thisMachineMask)
	if err := FilterConfigFile(path, allowed); err != nil {
		t.Fatal(err)
	}
	var beforeDoc, afterDoc map[string]json.RawMessage
	after, _ := os.ReadFile(path)
	if err := json.Unmarshal(before, &beforeDoc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &afterDoc); err != nil {
		t.Fatal(err)
	}
	var process map[string]json.RawMessage
	if err := json.Unmarshal(afterDoc["process"], &process); err != nil {
		t.Fatal(err)
	}
	caps := decodeCaps(t, process["capabilities"])
	for _, key := range []string{"bounding", "effective", "inheritable", "permitted"} {
		if slices.Contains(caps[key], "CAP_SYS_RESOURCE") {
			t.Errorf("%s still holds CAP_SYS_RESOURCE", key)
		}
		if !slices.Contains(caps[key], "CAP_SYS_ADMIN") || len(caps[key]) != len(capNames)-1 {
			t.Errorf("%s lost allowed caps: %d left", key, len(caps[key]))
		}
	}
	// Everything outside process.capabilities must survive verbatim.
	for _, k := range []string{"root", "hooks", "linux", "mounts", "hostname", "ociVersion"} {
		if !jsonEqual(t, beforeDoc[k], afterDoc[k]) {
			t.Errorf("member %q changed", k)
		}
	}
	if !jsonEqual(t, mustField(t, beforeDoc["process"], "args"), process["args"]) {
		t.Error("process.args changed")
	}
}

func TestFilterProcessFileHandlesAmbient(t *testing.T) {
	path := copyTestdata(t, "process.json")
	allowed, _ := ParseCapBnd(thisMachineMask)
	if err := FilterProcessFile(path, allowed); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	caps := decodeCaps(t, doc["capabilities"])
	if slices.Contains(caps["ambient"], "CAP_SYS_RESOURCE") || len(caps["ambient"]) != len(capNames)-1 {
		t.Errorf("ambient not filtered: %d", len(caps["ambient"]))
	}
	var args []string
	_ = json.Unmarshal(doc["args"], &args)
	if !slices.Equal(args, []string{"systemctl", "is-system-running"}) {
		t.Errorf("args changed: %v", args)
	}
}

func TestFilterLeavesFileUntouchedWhenNothingToDrop(t *testing.T) {
	path := copyTestdata(t, "process-default-caps.json")
	before, _ := os.ReadFile(path)
	allowed, _ := ParseCapBnd(thisMachineMask)
	if err := FilterProcessFile(path, allowed); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("file was rewritten although no capability had to go")
	}
}

func TestFilterRejectsBrokenJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"process": {"capabilities": {"bounding": 5}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	allowed, _ := ParseCapBnd(thisMachineMask)
	if err := FilterConfigFile(path, allowed); err == nil {
		t.Error("want error for malformed capability list")
	}
	if err := FilterConfigFile(filepath.Join(t.TempDir(), "missing.json"), allowed); err == nil {
		t.Error("want error for missing file")
	}
}

func TestPlanFor(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want Plan
	}{
		{"docker create", []string{"--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/x/log.json", "--log-format", "json", "create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid", "id1"}, Plan{ConfigPath: "/run/b/config.json"}},
		{"equals form", []string{"run", "--bundle=/b", "x"}, Plan{ConfigPath: "/b/config.json"}},
		{"default bundle", []string{"create", "x"}, Plan{ConfigPath: "config.json"}},
		{"exec", []string{"--root", "/r", "exec", "--process", "/tmp/runc-process1", "--detach", "id1"}, Plan{ProcessPath: "/tmp/runc-process1"}},
		{"exec argv form", []string{"exec", "id1", "ls"}, Plan{}},
		{"state", []string{"--root", "/r", "state", "id1"}, Plan{}},
		{"global value looks like command", []string{"--root", "create", "delete", "x"}, Plan{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PlanFor(c.args); got != c.want {
				t.Errorf("got %+v want %+v", got, c.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ea, _ := json.Marshal(x)
	eb, _ := json.Marshal(y)
	return string(ea) == string(eb)
}

func mustField(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}
