// Command flts-loadtest runs one load level against a running cluster
// (`make loadtest USERS=… DURATION=…`): the load generator as an Indexed
// Job, the merged summary as a table, the level's data saved under the
// artifacts directory and K8S_LOAD_TEST_REPORT.md regenerated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/flts/flts-e2e/e2e/framework/loadtest"
	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/pkg/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	kubeconfig, namespace, image, target, mix, artifacts, deployment string
	users, workers                                                   int
	duration, rampUp, thinkMin, thinkMax, timeout                    time.Duration
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("flts-loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.namespace, "namespace", "flts", "namespace of the flts release")
	fs.IntVar(&o.users, "users", 0, "virtual users (required)")
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "length of the level, ramp-up included")
	fs.DurationVar(&o.rampUp, "ramp-up", -1, "linear ramp-up (default a quarter of the duration)")
	fs.IntVar(&o.workers, "workers", loadtest.DefaultWorkers, "load-generator pods sharing the users")
	fs.StringVar(&o.image, "image", loadtest.DefaultImage, "load-generator image (loaded into the cluster)")
	fs.StringVar(&o.target, "target", loadtest.DefaultTargetURL, "predict URL as seen from inside the cluster")
	fs.StringVar(&o.mix, "mix", loadgen.MixPredict, `endpoint mix: "predict" or "mixed" (80 % predict, 10 % healthz, 10 % ready)`)
	fs.DurationVar(&o.thinkMin, "think-min", time.Second, "shortest think time")
	fs.DurationVar(&o.thinkMax, "think-max", 2*time.Second, "longest think time")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.StringVar(&o.deployment, "deployment", "inference", "HPA (and Deployment label app.kubernetes.io/name) whose replicas and pod CPU are sampled")
	fs.StringVar(&o.artifacts, "artifacts", "_artifacts", "directory for the level data and the report")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.users < 1 {
		errs = append(errs, fmt.Errorf("--users must be >= 1, got %d", o.users))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be > 0, got %s", o.duration))
	}
	if o.rampUp < 0 {
		o.rampUp = o.duration / 4
	}
	if o.rampUp >= o.duration {
		errs = append(errs, fmt.Errorf("--ramp-up %s must be shorter than --duration %s", o.rampUp, o.duration))
	}
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be >= 1, got %d", o.workers))
	}
	if o.mix != loadgen.MixPredict && o.mix != loadgen.MixMixed {
		errs = append(errs, fmt.Errorf("--mix must be %q or %q, got %q", loadgen.MixPredict, loadgen.MixMixed, o.mix))
	}
	if o.thinkMin < 0 || o.thinkMax < o.thinkMin {
		errs = append(errs, fmt.Errorf("think time must satisfy 0 <= --think-min <= --think-max, got %s and %s", o.thinkMin, o.thinkMax))
	}
	if o.timeout <= 0 || o.namespace == "" || o.artifacts == "" {
		errs = append(errs, errors.New("--timeout must be > 0 and --namespace, --artifacts non-empty"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: failed to load kubeconfig: %v\n", err)
		return 1
	}
	in := loadtest.Input{RestConfig: cfg, Namespace: o.namespace, Image: o.image, TargetURL: o.target, Users: o.users,
		Workers: min(o.workers, o.users), Duration: o.duration, RampUp: o.rampUp, ThinkMin: o.thinkMin, ThinkMax: o.thinkMax,
		Mix: o.mix, Timeout: o.timeout, Logger: log}
	client, err := loadtest.NewClient(in)
	if err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: %v\n", err)
		return 1
	}
	in.Client = client
	sampler := loadtest.StartSampler(ctx, loadtest.SamplerInput{Client: client, Namespace: o.namespace, HPAName: o.deployment,
		PodSelector: loadtest.LabelName + "=" + o.deployment, Logger: log})
	res, err := loadtest.Run(ctx, in)
	samples := sampler.Stop()
	if err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: load level failed: %v\n", err)
		return 1
	}
	// The CLI does not wait for the scale-down: the minimum is what the
	// HPA showed before the load, and BackToMin stays "not observed".
	var minReplicas int32
	if len(samples) > 0 {
		minReplicas = samples[0].Current
	}
	level := loadtest.LevelResult(in, res, samples, minReplicas)
	printSummary(stdout, level)
	if _, err := report.SaveLevel(o.artifacts, level); err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: %v\n", err)
		return 1
	}
	path, err := report.Write(o.artifacts)
	if err != nil {
		fmt.Fprintf(stderr, "flts-loadtest: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s\n", path)
	if !level.Passed {
		fmt.Fprintf(stderr, "flts-loadtest: level failed: %s\n", level.FailureReason)
		return 1
	}
	return 0
}

// printSummary writes the merged summary as a table for a terminal.
func printSummary(w io.Writer, l report.LevelResult) {
	s := l.Summary
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	status := "PASSED"
	if !l.Passed {
		status = "FAILED (" + l.FailureReason + ")"
	}
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("level", fmt.Sprintf("%d users, %d workers, %s: %s", l.Users, l.Workers, l.Duration, status))
	row("model", s.Model+", mix "+s.Mix)
	row("requests", s.Requests)
	row("successes", s.Successes)
	row("throughput", fmt.Sprintf("%.1f req/s", s.RPS))
	row("p50 / p95 / p99 / max", fmt.Sprintf("%s / %s / %s / %s", s.P50.Round(time.Millisecond), s.P95.Round(time.Millisecond),
		s.P99.Round(time.Millisecond), s.Max.Round(time.Millisecond)))
	row("failures", fmt.Sprintf("%d (%.2f %%)", s.FailureCount(), 100*s.FailureRate()))
	for _, c := range slices.Sorted(maps.Keys(s.Failures)) {
		row("  "+c, s.Failures[c])
	}
	row("429 throttled", s.Throttled429)
	for _, pod := range slices.Sorted(maps.Keys(s.ServedBy)) {
		row("  served by "+pod, s.ServedBy[pod])
	}
	if l.MaxReplicas > 0 {
		row("max replicas", l.MaxReplicas)
	}
	tw.Flush()
}
