package engine

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/execx/execxtest"
	"github.com/flts/flts-e2e/tools/imagebuild"
)

const (
	infoVersion = "docker info --format {{.ServerVersion}}"
	infoRuntime = "docker info --format {{.DefaultRuntime}}"
	probeRun    = "docker run --rm --privileged --network none " + ProbeImage
	probeExists = "docker image inspect " + ProbeImage
)

func testOptions(t *testing.T, run execx.Runner) Options {
	dir := t.TempDir()
	return Options{StateDir: filepath.Join(dir, "state"), RepoRoot: dir, DaemonConfig: filepath.Join(dir, "daemon.json"),
		WrapperPath: filepath.Join(dir, "wrapper"), Runner: run}
}

// answeringEngine is an engine someone else started, able to run the probe.
func answeringEngine(t *testing.T) *execxtest.Fake {
	return execxtest.New(t).
		On(infoVersion, execxtest.Reply("28.2.2\n")).
		On(infoRuntime, execxtest.Reply("runc\n")).
		On(probeExists, execxtest.Reply("[]")).
		On(probeRun, execxtest.Reply("pause.c\n"))
}

func TestEnsureUsesAnAnsweringEngineAsIs(t *testing.T) {
	fake := answeringEngine(t)
	opts := testOptions(t, fake)
	e, err := Ensure(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.Started || e.PID != 0 || e.WrapperInstalled {
		t.Errorf("engine not started here reported as %+v", e)
	}
	for _, touched := range []string{"apt-get", "go build"} {
		if fake.Ran(touched) {
			t.Errorf("ran %q for an engine that works: %q", touched, fake.Calls())
		}
	}
	if _, err := os.Stat(opts.DaemonConfig); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("daemon.json of an engine not ours was written (stat: %v)", err)
	}
	if e.Stop(context.Background()) != nil {
		t.Error("Stop of an engine not started here must be a no-op")
	}
}

func TestEnsureLeavesAForeignEngineAloneWhenCapabilitiesAreMissing(t *testing.T) {
	fake := answeringEngine(t).On(probeRun, execxtest.Fail("OCI runtime create failed: unable to apply caps: operation not permitted"))
	opts := testOptions(t, fake)
	_, err := Ensure(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "not started by flts, so left alone") || !strings.Contains(err.Error(), "daemon.json") {
		t.Fatalf("want an error telling how to register the wrapper, got %v", err)
	}
	if fake.Ran("go build") {
		t.Errorf("built the wrapper for an engine it may not restart: %q", fake.Calls())
	}
	if _, err := os.Stat(opts.DaemonConfig); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("daemon.json of an engine not ours was written (stat: %v)", err)
	}
}

func TestEnsureReportsOtherProbeFailures(t *testing.T) {
	fake := answeringEngine(t).On(probeRun, execxtest.Fail("no space left on device"))
	_, err := Ensure(context.Background(), testOptions(t, fake))
	if err == nil || !strings.Contains(err.Error(), "failed to run a privileged container") || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want the probe's own error, got %v", err)
	}
}

func TestEnsureBuildsTheProbeImageWhenMissing(t *testing.T) {
	var imported []string
	fake := answeringEngine(t).
		On(probeExists, execxtest.Fail("No such image: "+ProbeImage)).
		On("go build", func(_ context.Context, c *execx.Cmd) (string, error) {
			i := slices.Index(c.Args, "-o")
			return "", os.WriteFile(c.Args[i+1], []byte("\x7fELF pause"), 0o755)
		}).
		On("docker import", func(_ context.Context, c *execx.Cmd) (string, error) {
			tr := tar.NewReader(c.Stdin)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					return "sha256:probe\n", nil
				}
				if err != nil {
					return "", err
				}
				imported = append(imported, h.Name)
			}
		})
	if _, err := Ensure(context.Background(), testOptions(t, fake)); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	order := []string{probeExists, "go build", "docker import --change LABEL " + imagebuild.CacheKeyLabel + "=engine-probe", probeRun}
	at := 0
	for _, c := range calls {
		if at < len(order) && strings.HasPrefix(c, order[at]) {
			at++
		}
	}
	if at != len(order) {
		t.Errorf("want %q in this order, ran %q", order, calls)
	}
	if !slices.Equal(imported, []string{"pause"}) {
		t.Errorf("probe image holds %q, want the pause binary only", imported)
	}
}
