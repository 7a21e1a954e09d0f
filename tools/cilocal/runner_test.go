package cilocal

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/tools/workflow"
)

// testRepo is a git repository with one commit holding a go.mod.
func testRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// currentUser runs the steps as whoever runs the test.
func currentUser(t *testing.T) *User {
	t.Helper()
	home := t.TempDir()
	return &User{Name: "tester", Home: home, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
}

func runJob(t *testing.T, doc string, leg map[string]any, cacheDir string) (Result, string, string) {
	t.Helper()
	wf, err := workflow.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	var out bytes.Buffer
	opts := Options{
		RepoRoot: testRepo(t), Workflow: wf, JobID: "j", Leg: leg, User: currentUser(t),
		WorkDir: filepath.Join(base, "ws"), TempDir: filepath.Join(base, "tmp"), CacheDir: cacheDir,
		ArtifactsDir: filepath.Join(base, "artifacts"), Out: &out, Logger: slog.New(slog.DiscardHandler),
	}
	if err := os.MkdirAll(opts.TempDir, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res, out.String(), opts.ArtifactsDir
}

func outcomes(res Result) string {
	var s []string
	for _, st := range res.Steps {
		s = append(s, st.Outcome)
	}
	return strings.Join(s, " ")
}

func TestStepsSeeTheWorkflowsEnvOutputsAndConditions(t *testing.T) {
	doc := `
env:
  TOP: top
jobs:
  j:
    timeout-minutes: ${{ matrix.slow == 'yes' && 10 || 5 }}
    env:
      LEG: ${{ matrix.name }}
      WS: ${{ github.workspace }}/x
    steps:
      - uses: actions/checkout@v4
      - id: first
        run: |
          test "$TOP/$LEG" = top/built
          test "$WS" = "$GITHUB_WORKSPACE/x"
          test -f go.mod
          test "$(id -u)" = "` + strconv.Itoa(os.Getuid()) + `"
          echo "answer=42" >> "$GITHUB_OUTPUT"
          echo "LATER=yes" >> "$GITHUB_ENV"
      - name: read the output ${{ steps.first.outputs.answer }}
        run: test "${{ steps.first.outputs.answer }}" = 42 && test "$LATER" = yes
      - if: matrix.name != 'built'
        run: exit 1
      - run: exit 3
      - run: echo must not run
      - if: always()
        run: echo cleanup ran
      - if: ${{ !cancelled() && failure() }}
        run: echo saw the failure
`
	res, out, _ := runJob(t, doc, map[string]any{"name": "built"}, t.TempDir())
	if got, want := outcomes(res), "success success success skipped failure skipped success success"; got != want {
		t.Fatalf("outcomes %q, want %q\n%s", got, want, out)
	}
	if !res.Failed {
		t.Error("a failed step must fail the job")
	}
	for _, want := range []string{"read the output 42", "process completed with exit code 3", "cleanup ran", "saw the failure"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\nmust not run") {
		t.Error("a step after a failure ran without always()")
	}
}

func TestCacheRestoresByKeyThenPrefixAndNeverOverwrites(t *testing.T) {
	cacheDir := t.TempDir()
	save := `
jobs:
  j:
    steps:
      - uses: actions/checkout@v4
      - run: mkdir -p _cache && echo ${{ matrix.v }} > _cache/f
      - uses: actions/cache/save@v4
        with:
          path: _cache
          key: k-${{ matrix.v }}
`
	for _, v := range []string{"1", "2"} {
		if res, out, _ := runJob(t, save, map[string]any{"v": v}, cacheDir); res.Failed {
			t.Fatalf("save %s failed:\n%s", v, out)
		}
	}
	// An existing key is not overwritten.
	if _, out, _ := runJob(t, save, map[string]any{"v": "1"}, cacheDir); !strings.Contains(out, "already exists") {
		t.Errorf("saving an existing key again:\n%s", out)
	}
	restore := `
jobs:
  j:
    steps:
      - uses: actions/checkout@v4
      - id: c
        uses: actions/cache/restore@v4
        with:
          path: _cache
          key: ${{ matrix.key }}
          restore-keys: |
            nomatch-
            k-
      - run: |
          test "${{ steps.c.outputs.cache-matched-key }}" = "${{ matrix.matched }}"
          test "${{ steps.c.outputs.cache-hit }}" = "${{ matrix.hit }}"
          if [ -n "${{ matrix.matched }}" ]; then test "$(cat _cache/f)" = "${{ matrix.content }}"; fi
`
	for _, leg := range []map[string]any{
		{"key": "k-1", "matched": "k-1", "hit": "true", "content": "1"},
		{"key": "k-3", "matched": "k-2", "hit": "false", "content": "2"}, // newest with the prefix
	} {
		if res, out, _ := runJob(t, restore, leg, cacheDir); res.Failed {
			t.Errorf("restore %v failed:\n%s", leg, out)
		}
	}
	empty := t.TempDir()
	if res, out, _ := runJob(t, restore, map[string]any{"key": "k-1", "matched": "", "hit": "false"}, empty); res.Failed {
		t.Errorf("restore from an empty cache failed:\n%s", out)
	}
}

func TestUnknownActionsAndContextsFailTheStep(t *testing.T) {
	doc := `
jobs:
  j:
    steps:
      - uses: someone/else@v1
      - if: always()
        run: echo ${{ secrets.TOKEN }}
`
	res, out, _ := runJob(t, doc, nil, t.TempDir())
	if got := outcomes(res); got != "failure failure" {
		t.Fatalf("outcomes %q, want both failed:\n%s", got, out)
	}
	for _, want := range []string{"someone/else@v1 is not emulated", "secrets.TOKEN is not known"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUploadArtifactCopiesThePath(t *testing.T) {
	doc := `
jobs:
  j:
    steps:
      - uses: actions/checkout@v4
      - run: mkdir -p _artifacts/sub && echo hi > _artifacts/sub/f && touch _artifacts/.hidden
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: e2e-${{ matrix.n }}
          path: _artifacts/
`
	res, out, artifacts := runJob(t, doc, map[string]any{"n": "x"}, t.TempDir())
	if res.Failed {
		t.Fatalf("failed:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(artifacts, "e2e-x", "sub", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("artifact not copied: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(artifacts, "e2e-x", ".hidden")); err == nil {
		t.Error("a hidden file was uploaded (upload-artifact v4 leaves them out)")
	}
}

func TestReadKeyValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, []byte("a=1\nb<<EOF\nx\ny=z\nEOF\nc=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readKeyValues(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != "1" || got["b"] != "x\ny=z" || got["c"] != "" || len(got) != 3 {
		t.Errorf("got %q", got)
	}
	if err := os.WriteFile(path, []byte("b<<EOF\nx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readKeyValues(path); err == nil {
		t.Error("want an error for an unclosed block")
	}
}

func TestAStepPastItsTimeoutIsInterruptedAndCleanupStillRuns(t *testing.T) {
	doc := `
jobs:
  j:
    steps:
      - timeout-minutes: 0.01
        run: sleep 60
      - run: echo must not run
      - if: always()
        run: echo cleanup ran
`
	res, out, _ := runJob(t, doc, nil, t.TempDir())
	if got := outcomes(res); got != "failure skipped success" {
		t.Fatalf("outcomes %q:\n%s", got, out)
	}
	if res.Steps[0].Elapsed > 30*time.Second || !strings.Contains(out, "interrupted") {
		t.Errorf("the step was not interrupted at its timeout (%s):\n%s", res.Steps[0].Elapsed, out)
	}
}

func TestTheDefaultShellHasNoPipefailAndBashHas(t *testing.T) {
	doc := `
jobs:
  j:
    steps:
      - run: false | true
      - if: always()
        shell: bash
        run: false | true
`
	res, out, _ := runJob(t, doc, nil, t.TempDir())
	if got := outcomes(res); got != "success failure" {
		t.Fatalf("outcomes %q, want the default shell to pass and shell: bash to fail:\n%s", got, out)
	}
}

func TestActionsCacheHasOnlyCacheHitAndSavesAfterASuccessfulJob(t *testing.T) {
	cacheDir := t.TempDir()
	doc := `
jobs:
  j:
    steps:
      - uses: actions/checkout@v4
      - id: c
        uses: actions/cache@v4
        with:
          path: _cache
          key: go-${{ matrix.run }}
          restore-keys: go-
      - run: |
          test "${{ steps.c.outputs.cache-hit }}" = "${{ matrix.hit }}"
          test -z "${{ steps.c.outputs.cache-matched-key }}"
          mkdir -p _cache && echo ${{ matrix.run }} > _cache/f
          test "${{ matrix.fail }}" != yes
`
	// A failed job saves nothing; a successful one saves in its post step.
	if res, out, _ := runJob(t, doc, map[string]any{"run": "1", "hit": "", "fail": "yes"}, cacheDir); !res.Failed {
		t.Fatalf("the failing job passed:\n%s", out)
	}
	if res, out, _ := runJob(t, doc, map[string]any{"run": "1", "hit": ""}, cacheDir); res.Failed {
		t.Fatalf("miss:\n%s", out)
	}
	if res, out, _ := runJob(t, doc, map[string]any{"run": "2", "hit": "false"}, cacheDir); res.Failed {
		t.Fatalf("restore-key match:\n%s", out)
	}
	if res, out, _ := runJob(t, doc, map[string]any{"run": "1", "hit": "true"}, cacheDir); res.Failed {
		t.Fatalf("exact hit:\n%s", out)
	}
}
