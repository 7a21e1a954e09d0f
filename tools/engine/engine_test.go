package engine

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestMergeDaemonConfigKeepsExistingSettings(t *testing.T) {
	in := []byte(`{"log-driver":"json-file","runtimes":{"nvidia":{"path":"/usr/bin/nvidia"}}}`)
	out, err := MergeDaemonConfig(in, RuntimeName, "/state/flts-runc-wrapper")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		LogDriver      string                       `json:"log-driver"`
		DefaultRuntime string                       `json:"default-runtime"`
		Runtimes       map[string]map[string]string `json:"runtimes"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.LogDriver != "json-file" || doc.DefaultRuntime != RuntimeName {
		t.Errorf("got %+v", doc)
	}
	if doc.Runtimes["nvidia"]["path"] != "/usr/bin/nvidia" || doc.Runtimes[RuntimeName]["path"] != "/state/flts-runc-wrapper" {
		t.Errorf("runtimes %+v", doc.Runtimes)
	}
}

func TestMergeDaemonConfigEmptyAndInvalid(t *testing.T) {
	out, err := MergeDaemonConfig(nil, "x", "/x")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil || doc["default-runtime"] != "x" {
		t.Errorf("got %s (%v)", out, err)
	}
	if _, err := MergeDaemonConfig([]byte(`{not json`), "x", "/x"); err == nil {
		t.Error("want error for invalid JSON")
	}
	if _, err := MergeDaemonConfig([]byte(`{"runtimes":[1]}`), "x", "/x"); err == nil {
		t.Error("want error for runtimes of the wrong type")
	}
}

func TestRemoveStalePIDFile(t *testing.T) {
	dir := t.TempDir()
	// A process that has exited and been reaped: its PID is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.pid")
	if err := os.WriteFile(stale, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveStalePIDFile(stale)
	if err != nil || !removed {
		t.Fatalf("stale file not removed: %v %v", removed, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale file still exists")
	}

	live := filepath.Join(dir, "live.pid")
	if err := os.WriteFile(live, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err = RemoveStalePIDFile(live)
	if err != nil || removed {
		t.Fatalf("live pid file removed: %v %v", removed, err)
	}

	garbage := filepath.Join(dir, "garbage.pid")
	if err := os.WriteFile(garbage, []byte("not a pid"), 0o644); err != nil {
		t.Fatal(err)
	}
	if removed, err := RemoveStalePIDFile(garbage); err != nil || !removed {
		t.Errorf("garbage pid file kept: %v %v", removed, err)
	}
	if removed, err := RemoveStalePIDFile(filepath.Join(dir, "missing")); err != nil || removed {
		t.Errorf("missing file: %v %v", removed, err)
	}
}

func TestOwnedPIDIgnoresNonDockerdProcesses(t *testing.T) {
	dir := t.TempDir()
	// Our own PID is alive but is not a dockerd: not ours to stop.
	if err := os.WriteFile(PIDFile(dir), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := ownedPID(dir); ok {
		t.Error("a non-dockerd process was taken as our engine")
	}
}

func TestEnsureRequiresDirs(t *testing.T) {
	if _, err := Ensure(t.Context(), Options{RepoRoot: "/x"}); err == nil {
		t.Error("want error without StateDir")
	}
	if _, err := Ensure(t.Context(), Options{StateDir: t.TempDir()}); err == nil {
		t.Error("want error without RepoRoot")
	}
}

func TestRefreshRegisteredWrapperLeavesOtherConfigsAlone(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "daemon.json")
	e := &Engine{opts: Options{StateDir: dir, RepoRoot: dir, DaemonConfig: cfg, WrapperPath: filepath.Join(dir, "w")}, log: slog.New(slog.DiscardHandler)}
	// No daemon.json: nothing to refresh.
	if err := e.refreshRegisteredWrapper(t.Context()); err != nil {
		t.Fatalf("missing daemon.json: %v", err)
	}
	// Another runtime only: nothing to refresh, nothing built.
	if err := os.WriteFile(cfg, []byte(`{"runtimes":{"nvidia":{"path":"/usr/bin/nvidia"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.refreshRegisteredWrapper(t.Context()); err != nil {
		t.Fatalf("foreign runtime: %v", err)
	}
	if _, err := os.Stat(e.opts.WrapperPath); !os.IsNotExist(err) {
		t.Fatalf("wrapper built although not registered: %v", err)
	}
	// Malformed daemon.json: a clear error, not a silent start.
	if err := os.WriteFile(cfg, []byte(`{"runtimes":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.refreshRegisteredWrapper(t.Context()); err == nil {
		t.Fatal("want an error for a malformed daemon.json")
	}
}
