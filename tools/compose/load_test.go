package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/loadtest"
	"github.com/flts/flts-e2e/pkg/loadgen"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/execx/execxtest"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// A worker runs the suite's pod's command line, plus its index.
func TestWorkerArgsAreTheSuitesJob(t *testing.T) {
	in, err := LoadInput{Users: 200}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	job := loadtest.BuildJob(loadtest.Input{Users: 200, Workers: DefaultWorkers, Duration: DefaultDuration, RampUp: DefaultRampUp,
		ThinkMin: DefaultThinkMin, ThinkMax: DefaultThinkMax, Timeout: DefaultRequestTimeout, Mix: loadgen.MixPredict,
		TargetURL: loadtest.DefaultTargetURL}).Spec.Template.Spec.Containers[0].Args
	for i := range DefaultWorkers {
		if args := workerArgs(in, i); !slices.Equal(args, append(slices.Clone(job), "--worker-index", strconv.Itoa(i))) {
			t.Errorf("worker %d args\n %q\nwant the suite's Job's\n %q\nand its index", i, args, job)
		}
	}
}

// DefaultDuration is loadDuration (e2e/load_helpers_test.go:
// ScaleUpServingBudget + LoadServeMargin of 30 s) with the kind cluster's
// periods, read from the fixtures that set them.
func TestDefaultDurationIsTheSuitesOnKind(t *testing.T) {
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"fixtures/kind/cluster.yaml":                  `horizontal-pod-autoscaler-sync-period: "10s"`,
		"fixtures/metrics-server/components.yaml":     "--metric-resolution=10s",
		"fixtures/charts/flts/values-e2e.yaml":        "stabilizationWindowSeconds: 0",
		"e2e/load_helpers_test.go":                    "LoadServeMargin = 30 * time.Second",
		"e2e/load_helpers_test.go#loadDuration":       "return p.ScaleUpServingBudget() + LoadServeMargin",
		"e2e/load_helpers_test.go#LoadRampUp":         "LoadRampUp = 10 * time.Second",
		"e2e/load_helpers_test.go#LoadWorkers":        "LoadWorkers = 4",
		"fixtures/charts/flts/values-e2e.yaml#models": "params: {epochs: 3, hidden: 16}",
	} {
		path, _, _ := strings.Cut(file, "#")
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s no longer holds %q (%v): update the baseline's defaults and compose.yaml", path, want, err)
		}
	}
	p := framework.Periods{HPASync: 10 * time.Second, MetricResolution: 10 * time.Second}
	if got := p.ScaleUpServingBudget() + 30*time.Second; got != DefaultDuration {
		t.Errorf("the suite's rule gives %s on kind, DefaultDuration is %s", got, DefaultDuration)
	}
}

func TestLoadInputDefaultsAndErrors(t *testing.T) {
	in, err := LoadInput{Users: 3}.withDefaults()
	if err != nil || in.Workers != 3 || in.Duration != DefaultDuration || in.Mix != loadgen.MixPredict {
		t.Errorf("defaults %+v, %v (workers capped at users)", in, err)
	}
	_, err = LoadInput{Users: 0, Workers: -1, Duration: time.Second, RampUp: 2 * time.Second, ThinkMin: 2, ThinkMax: 1, Mix: "all"}.withDefaults()
	for _, want := range []string{"users", "workers", "ramp-up", "think time", "mix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// workerSummary is what worker index of a level of users reports: one
// request per user, served in 2 ms, on the single inference container.
func workerSummary(users, workers, index int) loadgen.Summary {
	n := users / workers
	if index < users%workers {
		n++
	}
	s := loadgen.Summary{Model: loadgen.ModelClosedLoop, Users: n, Start: time.Unix(100, 0).UTC(), End: time.Unix(230, 0).UTC(),
		Requests: n, Successes: n, ServedBy: map[string]int{"c0ffee": n}}
	for range n {
		s.Histogram.Record(2 * time.Millisecond)
	}
	return loadgen.Merge(s)
}

// loadgenRun answers `compose run ... loadgen run ... --worker-index I`
// with worker I's result, as the container prints it.
func loadgenRun(users, workers int) execxtest.Handler {
	return func(_ context.Context, c *execx.Cmd) (string, error) {
		i, err := strconv.Atoi(c.Args[len(c.Args)-1])
		if err != nil {
			return "", err
		}
		var b strings.Builder
		b.WriteString(`{"level":"INFO","msg":"starting load"}` + "\n")
		if err := loadgen.WriteResult(&b, workerSummary(users, workers, i)); err != nil {
			return "", err
		}
		return b.String(), nil
	}
}

func TestLoadRunsOneContainerPerWorkerAndMerges(t *testing.T) {
	fake := execxtest.New(t).
		On(composeLine, func(ctx context.Context, c *execx.Cmd) (string, error) {
			if c.Args[slices.Index(c.Args, loadService)+1] == "run" {
				return loadgenRun(201, 4)(ctx, c)
			}
			return "request 1: GET http://inference:8000/ready: status 200\n", nil
		}).
		On("git describe --always --dirty", execxtest.Reply("0123456789ab-dirty\n"))
	s := newTestStack(t, fake)
	res, err := s.Load(context.Background(), LoadInput{Users: 201})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Requests != 201 || res.Summary.Users != 201 || len(res.PerWorker) != 4 || res.Summary.ServedBy["c0ffee"] != 201 {
		t.Errorf("merged %d requests of %d users from %d workers, served %v; want 201, 201, 4", res.Summary.Requests, res.Summary.Users,
			len(res.PerWorker), res.Summary.ServedBy)
	}
	if res.Summary.P95 <= 0 || res.Summary.RPS <= 0 {
		t.Errorf("no percentiles or rate after the merge: %+v", res.Summary)
	}
	runs := 0
	for _, c := range fake.Calls() {
		if strings.Contains(c, "loadgen run --url http://inference:8000/predict --users 201 --workers 4") {
			runs++
		}
	}
	if runs != 4 {
		t.Errorf("%d worker containers, want 4:\n%s", runs, strings.Join(fake.Calls(), "\n"))
	}
	for i := range 4 {
		if _, err := os.Stat(filepath.Join(s.opts.Artifacts, diagnosticsDir, fmt.Sprintf("loadgen-201u-%d.log", i))); err != nil {
			t.Errorf("worker %d's log: %v", i, err)
		}
	}
	b := s.Baseline(context.Background(), res)
	if b.Platform != Platform || b.Replicas != 1 || b.Users != 201 || b.Workers != 4 || b.Duration != DefaultDuration || b.Time.IsZero() ||
		b.Commit != "0123456789ab-dirty" {
		t.Errorf("baseline %+v", b)
	}
}

func TestLoadFailsWhenAWorkerReportsNothing(t *testing.T) {
	fake := execxtest.New(t).
		On(composeLine, func(ctx context.Context, c *execx.Cmd) (string, error) {
			if slices.Contains(c.Args, "--worker-index") {
				if c.Args[len(c.Args)-1] == "2" {
					return "loadgen: killed\n", nil
				}
				return loadgenRun(8, 4)(ctx, c)
			}
			return "ok\n", nil
		}).
		On("docker ps --all --quiet", execxtest.Reply("")).
		On("docker ps --all --quiet --filter label=com.docker.compose.service=loadgen", execxtest.Reply("dead\n")).
		On("docker rm --force dead", execxtest.Reply(""))
	_, err := newTestStack(t, fake).Load(context.Background(), LoadInput{Users: 8, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "worker 2 reported no result") {
		t.Errorf("Load = %v, want worker 2 named", err)
	}
	if !fake.Ran("docker rm --force dead") {
		t.Error("the load generators left were not removed")
	}
}

func TestLoadNeedsTheStack(t *testing.T) {
	fake := execxtest.New(t).On(composeLine, execxtest.Fail("service \"inference\" is not running"))
	_, err := newTestStack(t, fake).Load(context.Background(), LoadInput{Users: 8})
	if err == nil || !strings.Contains(err.Error(), "make compose-up") {
		t.Errorf("Load without a stack = %v, want the command that starts it", err)
	}
	if len(fake.Calls()) != 1 {
		t.Errorf("ran %q after the readiness check failed", fake.Calls())
	}
}
