// Command loadgen is the load-generator image: `run` drives a share of the
// closed-loop users of a distributed run (one pod of an Indexed Job) and
// prints its summary as one line `FLTS_LOADGEN_RESULT {json}` on stdout;
// `check` sends a few requests and exits 0 only if each got the expected
// status (the chart's helm test hook).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/loadgen"
)

const usage = `usage: loadgen run   --url URL --users N [--workers W --worker-index I] --duration D [flags]
       loadgen check --url URL [--requests N] [--expect-status CODE]`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], config.OSGetenv, os.Stdout, os.Stderr))
}

// errUsage marks bad command lines (exit code 2).
var errUsage = errors.New("usage error")

func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = runLoad(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		err = runCheck(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "loadgen: %v\n%s\n", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// share is worker index's part of users: users/workers each, the
// remainder going one each to the first pods.
func share(users, workers, index int) int {
	n := users / workers
	if index < users%workers {
		n++
	}
	return n
}

func runLoad(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	var workers, index int
	var logLevel string
	fs.StringVar(&cfg.URL, "url", "http://inference:8000/predict", "predict endpoint (healthz/ready are resolved next to it)")
	fs.IntVar(&cfg.Users, "users", 0, "total virtual users of the whole run (all workers)")
	fs.IntVar(&workers, "workers", 1, "number of load-generator pods sharing the users")
	env := config.NewEnv(getenv)
	defIndex := env.Int("JOB_COMPLETION_INDEX", 0)
	if err := env.Err(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fs.IntVar(&index, "worker-index", defIndex, "this pod's index in [0, workers) (default $JOB_COMPLETION_INDEX)")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "whole run, ramp-up included")
	fs.DurationVar(&cfg.RampUp, "ramp-up", 0, "linear ramp-up of the users")
	fs.DurationVar(&cfg.ThinkMin, "think-min", time.Second, "shortest think time between a user's requests")
	fs.DurationVar(&cfg.ThinkMax, "think-max", 2*time.Second, "longest think time between a user's requests")
	fs.StringVar(&cfg.Mix, "mix", loadgen.MixPredict, `endpoint mix: "predict" (100 % POST /predict) or "mixed" (80 % predict, 10 % /healthz, 10 % /ready)`)
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.IntVar(&cfg.MaxRequests, "max-requests", 0, "stop this worker after this many requests (0: no bound)")
	fs.StringVar(&logLevel, "log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if workers < 1 || index < 0 || index >= workers {
		return fmt.Errorf("%w: need workers >= 1 and 0 <= worker-index < workers, got %d and %d", errUsage, workers, index)
	}
	if cfg.Users < 1 {
		return fmt.Errorf("%w: --users must be >= 1, got %d", errUsage, cfg.Users)
	}
	total := cfg.Users
	cfg.Users = share(total, workers, index)
	cfg.Seed = uint64(time.Now().UnixNano()) ^ uint64(index)
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	log = log.With("worker", index, "workers", workers)
	var summary loadgen.Summary
	if cfg.Users == 0 {
		// More workers than users: this pod has nothing to do but must still
		// report, so the merge sees every worker.
		log.Info("no users for this worker", "total_users", total)
		now := time.Now().UTC()
		summary = loadgen.Merge(loadgen.Summary{Model: loadgen.ModelClosedLoop, Target: cfg.URL, Mix: cfg.Mix, Start: now, End: now})
	} else {
		probe := cfg
		if err := probe.Validate(); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		log.Info("starting load", "users", cfg.Users, "total_users", total, "url", cfg.URL, "duration", cfg.Duration.String(),
			"ramp_up", cfg.RampUp.String(), "mix", cfg.Mix)
		summary, err = loadgen.Run(ctx, cfg, loadgen.WithLogger(log))
		if err != nil && summary.Model == "" {
			return fmt.Errorf("failed to run load: %w", err)
		}
		if err != nil {
			log.Warn("load run cut short; reporting what was measured", "error", err)
		}
	}
	return loadgen.WriteResult(stdout, summary)
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://inference:8000/ready", "URL to request; a path ending in /predict is POSTed {\"inference_length\":1}")
	requests := fs.Int("requests", 3, "number of requests")
	expect := fs.Int("expect-status", http.StatusOK, "status every request must get")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *requests < 1 || *expect < 100 || *expect > 599 || *timeout <= 0 {
		return fmt.Errorf("%w: need --requests >= 1, --expect-status in 100..599 and --timeout > 0", errUsage)
	}
	if !strings.HasPrefix(*target, "http://") && !strings.HasPrefix(*target, "https://") {
		return fmt.Errorf("%w: --url %q is not an http(s) URL", errUsage, *target)
	}
	client := loadgen.NewHTTPClient(1, *timeout)
	bad := 0
	for i := 1; i <= *requests; i++ {
		method, body := http.MethodGet, []byte(nil)
		if strings.HasSuffix(strings.SplitN(*target, "?", 2)[0], "/predict") {
			method, body = http.MethodPost, []byte(`{"inference_length":1}`)
		}
		req, err := http.NewRequestWithContext(ctx, method, *target, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%w: --url %q: %v", errUsage, *target, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "request %d: %s %s: error: %v\n", i, method, *target, err)
			continue
		}
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		ok := resp.StatusCode == *expect
		if !ok {
			bad++
		}
		fmt.Fprintf(stdout, "request %d: %s %s: status %d (want %d) served-by %q in %s: %s\n", i, method, *target,
			resp.StatusCode, *expect, resp.Header.Get("X-Served-By"), time.Since(t0).Round(time.Millisecond),
			strings.TrimSpace(string(snippet)))
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d requests to %s did not get status %d", bad, *requests, *target, *expect)
	}
	fmt.Fprintf(stdout, "ok: %d requests got status %d\n", *requests, *expect)
	return nil
}
