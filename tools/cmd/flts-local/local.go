package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/inference"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/pipeline"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/tracking"
	trackingserver "github.com/flts/flts-e2e/pkg/tracking/server"
)

// options of a local run.
type options struct {
	dir                string // data directory; "" means a temporary one removed at exit
	csv                string // the user's raw dataset; "" means a generated one
	rows               int
	seed               int64
	epochs, hidden     int
	listen             string
	metricsListen      string // "" means no metrics listener
	exitAfterPromotion bool
	promotionTimeout   time.Duration
}

// local is a running local pipeline: store, embedded NATS, tracking server
// and, after promotion, an inference server ready to serve.
type local struct {
	out       io.Writer
	log       *slog.Logger
	store     *dirstore.Store
	bus       events.Bus
	promotion pipeline.Promotion
	inf       *inference.Server
	api       net.Listener
	metrics   net.Listener
	cleanups  []func()
	trigger   chan struct{}
}

func (l *local) stage(name string, start time.Time) {
	fmt.Fprintf(l.out, "  done: %-28s %6.2fs\n", name, time.Since(start).Seconds())
}

// close releases everything in reverse order of creation.
func (l *local) close() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
	l.cleanups = nil
}

// setup runs preprocess, the three trainings and eval, then loads the
// promoted model into an inference server listening on opts.listen.
func setup(ctx context.Context, o options, out io.Writer, log *slog.Logger) (_ *local, err error) {
	l := &local{out: out, log: log, trigger: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	total := time.Now()
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flts-local-"); err != nil {
			return nil, fmt.Errorf("failed to create a data directory: %w", err)
		}
		l.cleanups = append(l.cleanups, func() { _ = os.RemoveAll(dir) })
	}
	fmt.Fprintf(out, "flts-local: data in %s\n", dir)

	start := time.Now()
	if l.store, err = dirstore.New(filepath.Join(dir, "objects"), log); err != nil {
		return nil, err
	}
	if err := objstore.EnsureBuckets(ctx, l.store, objstore.AllBuckets...); err != nil {
		return nil, err
	}
	natsURL, stopNATS, err := events.StartEmbedded(filepath.Join(dir, "nats"))
	if err != nil {
		return nil, err
	}
	l.cleanups = append(l.cleanups, stopNATS)
	if l.bus, err = events.Connect(ctx, natsURL, log); err != nil {
		return nil, err
	}
	l.cleanups = append(l.cleanups, func() { _ = l.bus.Close() })
	if err := l.bus.EnsureTopics(ctx, events.AllTopics...); err != nil {
		return nil, err
	}
	trackingURL, err := l.startTracking(ctx, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  nats %s, tracking %s\n", natsURL, trackingURL)
	l.stage("start store, nats, tracking", start)
	tracker := tracking.NewClient(trackingURL, &http.Client{Timeout: 30 * time.Second})
	deps := pipeline.Deps{Store: l.store, Events: l.bus, Tracker: tracker, Logger: log}

	// Eval consumes model-training through the bus, as in the cluster.
	// It reports every decision: a re-run over an existing directory ends
	// with "already promoted" rather than a new promotion.
	decisions := make(chan pipeline.EvalResult, 16)
	evaluator := &pipeline.Evaluator{Deps: deps}
	evalSub, err := l.bus.Start(ctx, events.TopicModelTraining, "eval", func(ctx context.Context, ev events.Event) error {
		res, err := evaluator.Evaluate(ctx, ev)
		if err == nil {
			select {
			case decisions <- res:
			default:
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	l.cleanups = append(l.cleanups, evalSub.Stop)
	selSub, err := l.bus.Start(ctx, events.TopicModelSelected, "", func(context.Context, events.Event) error {
		select {
		case l.trigger <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.cleanups = append(l.cleanups, selSub.Stop)

	start = time.Now()
	pcfg := preprocess.DefaultConfig()
	pcfg.Seed = o.seed
	if o.csv != "" {
		raw, err := os.ReadFile(o.csv)
		if err != nil {
			return nil, fmt.Errorf("failed to read --csv: %w", err)
		}
		if err := pipeline.PutDataset(ctx, l.store, pipeline.RawKey, raw, pcfg); err != nil {
			return nil, fmt.Errorf("dataset %s refused: %w", o.csv, err)
		}
		fmt.Fprintf(out, "  dataset %s (sha256 %.12s)\n", o.csv, pipeline.RawDigest(raw))
	}
	pres, err := pipeline.Preprocess(ctx, deps, pipeline.PreprocessConfig{Rows: o.rows, Seed: uint64(o.seed), Config: pcfg})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  data version %.12s (raw generated: %v, reused: %v)\n", pres.ConfigHash, pres.Generated, pres.Reused)
	l.stage("preprocess", start)

	dataEv := events.Event{Operation: "Processed", Status: events.StatusSuccess, ConfigHash: pres.ConfigHash}
	for _, mt := range model.Types {
		start = time.Now()
		params := map[string]string{}
		if mt != model.TypeProphet {
			params["epochs"] = strconv.Itoa(o.epochs)
			params["hidden"] = strconv.Itoa(o.hidden)
		}
		res, err := pipeline.Train(ctx, deps, pipeline.TrainConfig{ModelType: mt, Params: params, Train: pipeline.ForecastTrainer(o.seed)}, dataEv)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "  %s run %s (reused: %v)\n", mt, res.RunID, res.Skipped)
		l.stage("train "+mt, start)
	}

	start = time.Now()
	if err := l.awaitPromotion(ctx, decisions, o.promotionTimeout); err != nil {
		return nil, err
	}
	l.stage("eval and promotion", start)
	l.printPromotion()

	start = time.Now()
	l.inf = inference.NewServer(inference.Config{Pod: "flts-local", Logger: log})
	w := &inference.Watcher{Server: l.inf, Store: l.store, Load: inference.LoadForecast}
	if _, err := w.Refresh(ctx); err != nil {
		return nil, err
	}
	if l.api, err = net.Listen("tcp", o.listen); err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", o.listen, err)
	}
	if o.metricsListen != "" {
		if l.metrics, err = net.Listen("tcp", o.metricsListen); err != nil {
			_ = l.api.Close()
			return nil, fmt.Errorf("failed to listen on %s: %w", o.metricsListen, err)
		}
	}
	l.stage("load model into inference", start)
	fmt.Fprintf(out, "flts-local: pipeline done in %.1fs; inference API on http://%s\n", time.Since(total).Seconds(), l.api.Addr())
	return l, nil
}

// awaitPromotion waits for eval to promote or to confirm the existing promotion.
func (l *local) awaitPromotion(ctx context.Context, decisions <-chan pipeline.EvalResult, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case res := <-decisions:
			switch {
			case res.Promoted != nil:
				l.promotion = *res.Promoted
				return nil
			case res.Reason == pipeline.ReasonAlreadyPromoted:
				p, err := pipeline.ReadPromotion(ctx, l.store)
				if err != nil {
					return err
				}
				l.promotion = p
				fmt.Fprintln(l.out, "  (winner unchanged: keeping the existing promotion)")
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no promotion within %s", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *local) startTracking(ctx context.Context, log *slog.Logger) (string, error) {
	ts := trackingserver.New(l.store, trackingserver.WithLogger(log))
	if err := ts.Init(ctx); err != nil {
		return "", fmt.Errorf("failed to initialise the tracking server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to listen for the tracking server: %w", err)
	}
	srv := &http.Server{Handler: ts, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l.cleanups = append(l.cleanups, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

func (l *local) printPromotion() {
	p := l.promotion
	fmt.Fprintf(l.out, "\npromoted %s run %s (score %.5f; persistence %.5f)\n", p.ModelType, p.RunID, p.Score, p.BaselineScore)
	fmt.Fprintf(l.out, "  %-8s %-34s %10s %12s %8s\n", "model", "run", "score", "persistence", "better")
	for _, c := range p.Candidates {
		fmt.Fprintf(l.out, "  %-8s %-34s %10.5f %12.5f %8v\n", c.ModelType, c.RunID, c.Score, c.BaselineScore, c.Score < c.BaselineScore)
	}
	fmt.Fprintln(l.out)
}

// serve runs the inference API until ctx is done, following new promotions.
func (l *local) serve(ctx context.Context) error {
	w := &inference.Watcher{Server: l.inf, Store: l.store, Load: inference.LoadForecast, Logger: l.log, Trigger: l.trigger}
	go w.Run(ctx)
	err := l.inf.Serve(ctx, l.api, l.metrics)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
