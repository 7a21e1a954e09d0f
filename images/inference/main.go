// Command inference serves forecasts of the promoted model on :8000 and
// Prometheus metrics on :9091. It answers /healthz at once, /ready once a
// model is loaded, follows promotions (model-selected events and a poll of
// current.json) and drains in-flight requests on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/inference"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

type options struct {
	common        config.Common
	listen        string
	metricsListen string
	server        inference.Config
	poll          time.Duration
}

func parse(args []string, getenv config.Getenv, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("inference", flag.ContinueOnError)
	fs.SetOutput(out)
	o.common.Register(fs, getenv)
	fs.StringVar(&o.listen, "listen", ":8000", "address of the API")
	fs.StringVar(&o.metricsListen, "metrics-listen", ":9091", "address of /metrics")
	fs.IntVar(&o.server.MaxInferenceLength, "max-inference-length", 60, "largest inference_length accepted (422 above)")
	fs.IntVar(&o.server.MaxInFlight, "max-in-flight", 0, "predictions running at once (0: 2×GOMAXPROCS)")
	fs.IntVar(&o.server.MaxQueue, "max-queue", 64, "requests waiting for a slot before 429")
	fs.DurationVar(&o.server.RequestTimeout, "request-timeout", 10*time.Second, "deadline of a prediction, queue wait included (504 after)")
	fs.DurationVar(&o.server.ShutdownGrace, "shutdown-grace", 20*time.Second, "time to drain in-flight requests on SIGTERM")
	fs.DurationVar(&o.server.DrainDelay, "drain-delay", 5*time.Second, "on SIGTERM, keep serving this long while /ready fails, so endpoints drop the pod first")
	fs.DurationVar(&o.poll, "poll", 15*time.Second, "period of the current.json check")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	for name, addr := range map[string]string{"--listen": o.listen, "--metrics-listen": o.metricsListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", name, addr))
		}
	}
	if o.server.MaxInferenceLength < 1 || o.server.MaxInferenceLength > 720 {
		errs = append(errs, fmt.Errorf("--max-inference-length must be in [1, 720], got %d", o.server.MaxInferenceLength))
	}
	if o.server.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("--max-in-flight must be >= 0, got %d", o.server.MaxInFlight))
	}
	if o.server.MaxQueue < 0 {
		errs = append(errs, fmt.Errorf("--max-queue must be >= 0, got %d", o.server.MaxQueue))
	} else if o.server.MaxQueue == 0 {
		o.server.MaxQueue = -1 // Config: negative means no queue
	}
	for name, d := range map[string]time.Duration{"--request-timeout": o.server.RequestTimeout, "--shutdown-grace": o.server.ShutdownGrace, "--poll": o.poll} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if o.server.DrainDelay < 0 {
		errs = append(errs, fmt.Errorf("--drain-delay must be >= 0, got %s", o.server.DrainDelay))
	}
	errs = append(errs, o.common.Validate())
	o.server.Pod = podName(getenv)
	return o, errors.Join(errs...)
}

func podName(getenv config.Getenv) string {
	if v, ok := getenv("POD_NAME"); ok && v != "" {
		return v
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "inference"
}

func main() {
	config.Command[options]{
		Name:  "inference",
		Parse: parse,
		Logger: func(o options, stderr io.Writer) *slog.Logger {
			return config.NewLogger(stderr, o.common.LogLevel).With("pod", o.server.Pod)
		},
		Run: run,
	}.Main()
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	o.server.Logger = log
	srv := inference.NewServer(o.server)
	api, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.listen, err)
	}
	metricsLn, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		_ = api.Close()
		return fmt.Errorf("failed to listen on %s: %w", o.metricsListen, err)
	}
	// Serve probes at once; the model arrives in the background.
	go follow(ctx, o, srv, log)
	return srv.Serve(ctx, api, metricsLn)
}

// follow connects to the store and the bus and keeps the served model in
// step with the promotions until ctx is done.
func follow(ctx context.Context, o options, srv *inference.Server, log *slog.Logger) {
	conns, err := pipeline.Connect(ctx, o.common, pipeline.Need{Store: true}, log)
	if err != nil {
		log.Warn("stopped waiting for the object store", "error", err)
		return
	}
	trigger := make(chan struct{}, 1)
	go func() {
		// Events only speed up the switch; the poll finds promotions without them.
		bc, err := pipeline.Connect(ctx, o.common, pipeline.Need{Bus: true}, log)
		if err != nil {
			return
		}
		defer bc.Close()
		_ = bc.Bus.Subscribe(ctx, events.TopicModelSelected, "", func(_ context.Context, ev events.Event) error {
			log.Info("model-selected event", "run_id", ev.RunID, "model_type", ev.ModelType)
			select {
			case trigger <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	w := &inference.Watcher{Server: srv, Store: conns.Store, Load: inference.LoadForecast, Logger: log, Poll: o.poll, Trigger: trigger}
	w.Run(ctx)
}
