package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/execx/execxtest"
)

// composeLine is how the fake sees a Compose command: the binary, then the
// global flags New puts first.
const composeLine = "/bin/docker-compose --file "

func newTestStack(t *testing.T, fake *execxtest.Fake) *Stack {
	t.Helper()
	root := t.TempDir()
	s, err := New(Options{RepoRoot: root, ComposeBin: "/bin/docker-compose", Artifacts: filepath.Join(root, "_artifacts"), Runner: fake,
		CheckImages: func(_ context.Context, names ...string) ([]string, error) {
			refs := make([]string, 0, len(names))
			for _, n := range names {
				refs = append(refs, "flts.local/"+n+":e2e")
			}
			return refs, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noLeftovers answers the label listings with nothing.
func noLeftovers(f *execxtest.Fake) *execxtest.Fake {
	return f.On("docker ps --all", execxtest.Reply("")).
		On("docker network ls", execxtest.Reply("")).
		On("docker volume ls", execxtest.Reply(""))
}

// copyProbe answers `docker cp ID:/loadgen DEST` by writing DEST.
func copyProbe(_ context.Context, c *execx.Cmd) (string, error) {
	return "", os.WriteFile(c.Args[len(c.Args)-1], []byte("#!probe"), 0o600)
}

func envOf(c *execx.Cmd, key string) string {
	for _, e := range c.Env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestNewRequiresRootAndArtifacts(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "RepoRoot") || !strings.Contains(err.Error(), "Artifacts") {
		t.Errorf("New(Options{}) = %v, want both missing fields named", err)
	}
}

func TestUpStartsWaitsAndChecks(t *testing.T) {
	var upCmd *execx.Cmd
	fake := noLeftovers(execxtest.New(t)).
		On("docker create --label "+ProjectLabel+"="+Project+" flts.local/loadgen:e2e", execxtest.Reply("cafe\n")).
		On("docker cp cafe:/loadgen ", copyProbe).
		On("docker rm --force cafe", execxtest.Reply("")).
		On(composeLine, func(_ context.Context, c *execx.Cmd) (string, error) {
			if slices.Contains(c.Args, "up") {
				upCmd = c
			}
			return "request 1: GET http://127.0.0.1:8080/promotion: status 200 (want 200)\n", nil
		})
	s := newTestStack(t, fake)
	if err := s.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	if upCmd == nil {
		t.Fatalf("no compose up ran: %q", fake.Calls())
	}
	for _, want := range []string{"--project-name " + Project, "up --detach --wait --wait-timeout 960 --pull never --no-build"} {
		if !strings.Contains(strings.Join(upCmd.Args, " "), want) {
			t.Errorf("compose up %q lacks %q", upCmd.Args, want)
		}
	}
	access, secret := envOf(upCmd, "FLTS_S3_ACCESS_KEY"), envOf(upCmd, "FLTS_S3_SECRET_KEY")
	if !strings.HasPrefix(access, "flts") || len(access) != 16 || len(secret) != 40 || access == unusedSecret {
		t.Errorf("credentials %q / %q: want fresh ones as the chart makes them", access, secret)
	}
	if probe := envOf(upCmd, "FLTS_COMPOSE_PROBE"); probe != s.probe {
		t.Errorf("FLTS_COMPOSE_PROBE=%q, want %q", probe, s.probe)
	}
	if info, err := os.Stat(s.probe); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("probe at %s: %v %v, want mode 0755", s.probe, info, err)
	}
	calls := strings.Join(fake.Calls(), "\n")
	for _, want := range []string{"exec --no-tty eval /flts-probe check --url http://127.0.0.1:8080/promotion",
		"--profile load run --rm --no-deps --no-tty --pull never loadgen check --url http://inference:8000/predict"} {
		if !strings.Contains(calls, want) {
			t.Errorf("Up did not run %q:\n%s", want, calls)
		}
	}
	// The probe's source container is removed before the stack starts.
	if i, j := slices.IndexFunc(fake.Calls(), func(c string) bool { return strings.HasPrefix(c, "docker rm --force cafe") }),
		slices.IndexFunc(fake.Calls(), func(c string) bool { return strings.Contains(c, " up --detach") }); i < 0 || i > j {
		t.Errorf("probe container removed at call %d, compose up at %d", i, j)
	}
}

func TestUpRefusesAProjectWithContainers(t *testing.T) {
	fake := noLeftovers(execxtest.New(t)).On("docker ps --all --format {{.Names}}", execxtest.Reply("flts-baseline-nats-1\n"))
	err := newTestStack(t, fake).Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "flts-baseline-nats-1") || !strings.Contains(err.Error(), "make compose-down") {
		t.Errorf("Up over leftovers = %v, want a refusal naming the container and compose-down", err)
	}
	if fake.Ran(composeLine) {
		t.Error("Up ran Compose over a project with containers")
	}
}

func TestUpNeedsTheImages(t *testing.T) {
	s := newTestStack(t, execxtest.New(t))
	s.opts.CheckImages = func(context.Context, ...string) ([]string, error) {
		return nil, errors.New("images not ready (missing: flts.local/eval:e2e); build them with `make images`")
	}
	if err := s.Up(context.Background()); err == nil || !strings.Contains(err.Error(), "make images") {
		t.Errorf("Up without images = %v, want the build command", err)
	}
}

func TestUpFailureSavesDiagnostics(t *testing.T) {
	fake := noLeftovers(execxtest.New(t)).
		On("docker create", execxtest.Reply("cafe")).
		On("docker cp", copyProbe).
		On("docker rm", execxtest.Reply("")).
		On(composeLine, func(_ context.Context, c *execx.Cmd) (string, error) {
			switch {
			case slices.Contains(c.Args, "up"):
				return execxtest.Fail("container flts-baseline-inference-1 is unhealthy")(context.Background(), c)
			case slices.Contains(c.Args, "logs"):
				return "inference-1 | no promoted model\n", nil
			}
			return "", nil
		}).
		On("docker ps --all --quiet", execxtest.Reply("c1\nc2\n")).
		On("docker inspect", execxtest.Reply("/flts-baseline-inference-1 running exit=0 health=unhealthy []\n"))
	s := newTestStack(t, fake)
	err := s.Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unhealthy") || !strings.Contains(err.Error(), s.diagnosticsPath("up")) {
		t.Fatalf("Up = %v, want the cause and where the logs are", err)
	}
	for name, want := range map[string]string{"up-logs.txt": "no promoted model", "up-health.txt": "health=unhealthy"} {
		b, rerr := os.ReadFile(filepath.Join(s.opts.Artifacts, diagnosticsDir, name))
		if rerr != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %q, %v; want %q", name, b, rerr, want)
		}
	}
}

func TestDownRemovesAndChecks(t *testing.T) {
	fake := noLeftovers(execxtest.New(t)).On(composeLine, execxtest.Reply(""))
	s := newTestStack(t, fake)
	if err := os.MkdirAll(filepath.Dir(s.probe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.probe, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(fake.Calls(), "\n"), "--profile load down --volumes --remove-orphans --timeout 10") {
		t.Errorf("no complete down in %q", fake.Calls())
	}
	if _, err := os.Stat(s.probe); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("probe still there: %v", err)
	}
	for _, kind := range []string{"ps --all", "network ls", "volume ls"} {
		if !fake.Ran("docker " + kind) {
			t.Errorf("Down did not check the %s left", kind)
		}
	}
}

func TestDownReportsWhatIsLeft(t *testing.T) {
	fake := noLeftovers(execxtest.New(t)).On(composeLine, execxtest.Reply("")).
		On("docker volume ls", execxtest.Reply("flts-baseline_minio-data\n"))
	err := newTestStack(t, fake).Down(context.Background())
	if err == nil || !strings.Contains(err.Error(), "volumes flts-baseline_minio-data") {
		t.Errorf("Down = %v, want the volume left named", err)
	}
}

func TestDownFailsWhenComposeFails(t *testing.T) {
	fake := execxtest.New(t).On(composeLine, execxtest.Fail("Cannot connect to the Docker daemon"))
	if err := newTestStack(t, fake).Down(context.Background()); err == nil || !strings.Contains(err.Error(), "Cannot connect") {
		t.Errorf("Down = %v, want compose's error", err)
	}
}

func TestComposeCommandsUsePlaceholdersOutsideUp(t *testing.T) {
	s := newTestStack(t, execxtest.New(t))
	c := s.compose(nil, "ps")
	if envOf(c, "FLTS_S3_ACCESS_KEY") != unusedSecret || envOf(c, "IMAGE_TAG") != "e2e" {
		t.Errorf("env %q", c.Env)
	}
	if !slices.Equal(c.Args[:4], []string{"--file", filepath.Join(s.opts.RepoRoot, File), "--project-name", Project}) {
		t.Errorf("args %q", c.Args)
	}
}

func TestParsePSAndStates(t *testing.T) {
	lines := `{"Service":"nats","State":"running","Health":"healthy","ExitCode":0}
{"Service":"preprocess","State":"exited","Health":"","ExitCode":0}
{"Service":"inference","State":"running","Health":"starting","ExitCode":0}
{"Service":"train-gru","State":"restarting","Health":"","ExitCode":1}`
	array := "[" + strings.ReplaceAll(lines, "}\n{", "},{") + "]"
	for name, out := range map[string]string{"lines": lines, "array": array} {
		entries, err := parsePS(out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := states(entries), "inference=starting nats=healthy preprocess=exited(0) train-gru=restarting"; got != want {
			t.Errorf("%s: states %q, want %q", name, got, want)
		}
	}
	if got := states(nil); got != "no container yet" {
		t.Errorf("states(nil) = %q", got)
	}
	if _, err := parsePS("{not json"); err == nil {
		t.Error("parsePS accepted garbage")
	}
}
