// Command eval consumes model-training with the durable consumer "eval",
// promotes the best model of the newest data version once GRU, LSTM and
// PROPHET have all trained on it, and serves /healthz, /ready, /promotion
// and /metrics (the pipeline's state for Prometheus: pipeline.Metrics).
//
// It also carries the operator's dead-letter tool, run in the eval pod
// where the broker's address and credentials already are:
//
//	kubectl exec deploy/eval -- /eval dlq list [TOPIC...]   (JSON lines; default: every topic)
//	kubectl exec deploy/eval -- /eval dlq redrive TOPIC     (publish back, then remove)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/httpjson"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

type options struct {
	config.Common
	listen string
	// dlq is the dead-letter command ("list" or "redrive") and its topics;
	// nil runs the evaluator.
	dlq []string
}

func parse(args []string, getenv config.Getenv, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(out)
	o.Common.Register(fs, getenv)
	fs.StringVar(&o.listen, "listen", ":8080", "address of /healthz and /promotion")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if args := fs.Args(); len(args) > 0 {
		if args[0] != "dlq" {
			errs = append(errs, fmt.Errorf("unexpected arguments %v (the only command is dlq)", args))
		} else {
			o.dlq = args[1:]
			errs = append(errs, validateDLQ(o.dlq))
		}
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port: %w", o.listen, err))
	}
	errs = append(errs, o.Common.Validate())
	return o, errors.Join(errs...)
}

func main() {
	config.Pipeline("eval", parse, func(ctx context.Context, o options, log *slog.Logger) error {
		if o.dlq != nil {
			return runDLQ(ctx, o, log, os.Stdout)
		}
		return run(ctx, o, log)
	}).Main()
}

// validateDLQ checks `dlq list [TOPIC...]` and `dlq redrive TOPIC`.
func validateDLQ(args []string) error {
	const usage = "use `dlq list [TOPIC...]` or `dlq redrive TOPIC`, topics: %s"
	topics := strings.Join(events.AllTopics, ", ")
	if len(args) == 0 {
		return fmt.Errorf("dlq: missing command: "+usage, topics)
	}
	for _, t := range args[1:] {
		if !slices.Contains(events.AllTopics, t) {
			return fmt.Errorf("dlq: unknown topic %q: "+usage, t, topics)
		}
	}
	switch {
	case args[0] == "list":
		return nil
	case args[0] == "redrive" && len(args) == 2:
		return nil
	case args[0] == "redrive":
		return fmt.Errorf("dlq redrive takes exactly one topic: "+usage, topics)
	default:
		return fmt.Errorf("dlq: unknown command %q: "+usage, args[0], topics)
	}
}

// runDLQ lists dead letters as JSON lines on out, or re-drives one topic's.
func runDLQ(ctx context.Context, o options, log *slog.Logger, out io.Writer) error {
	conns, err := pipeline.Connect(ctx, o.Common, pipeline.Need{Bus: true}, log)
	if err != nil {
		return err
	}
	defer conns.Close()
	if o.dlq[0] == "redrive" {
		n, err := conns.Bus.Redrive(ctx, o.dlq[1])
		fmt.Fprintf(out, "re-drove %d dead letter(s) to %s\n", n, o.dlq[1])
		return err
	}
	topics := o.dlq[1:]
	if len(topics) == 0 {
		topics = events.AllTopics
	}
	enc := json.NewEncoder(out)
	for _, t := range topics {
		letters, err := conns.Bus.DeadLetters(ctx, t)
		if err != nil {
			return err
		}
		for _, dl := range letters {
			if err := enc.Encode(dl); err != nil {
				return fmt.Errorf("failed to write: %w", err)
			}
		}
	}
	return nil
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.listen, err)
	}
	var conns *pipeline.Conns // set once connected; /promotion, /ready and /metrics answer 503 before
	var metrics *pipeline.Metrics
	var metricsHandler http.Handler
	ready := make(chan struct{})
	connected := func() *pipeline.Conns {
		select {
		case <-ready:
			return conns
		default:
			return nil
		}
	}
	srv := &http.Server{Handler: handler(func() objstore.Reader {
		if c := connected(); c != nil {
			return c.Store
		}
		return nil
	}, func() http.Handler {
		if connected() == nil {
			return nil
		}
		return metricsHandler
	}, func(ctx context.Context) error {
		c := connected()
		if c == nil {
			return errors.New("not connected to its dependencies yet")
		}
		return c.Ready(ctx)
	}), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "error", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	conns, err = pipeline.Connect(ctx, o.Common, pipeline.Need{Store: true, Bus: true, Tracker: true}, log)
	if err != nil {
		return err
	}
	defer conns.Close()
	// Under the shortest scrape timeout the chart sets (5 s in e2e): a slow
	// store costs the state series (state_read_success 0), not the scrape.
	metrics = pipeline.NewMetrics(conns.Store, conns.Bus, 3*time.Second, log)
	metricsHandler = promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})
	close(ready)
	ev := &pipeline.Evaluator{Deps: pipeline.Deps{Store: conns.Store, Events: conns.Bus, Tracker: conns.Tracker, Logger: log}}
	sub, err := conns.Bus.Start(ctx, events.TopicModelTraining, "eval", func(ctx context.Context, e events.Event) error {
		metrics.ObserveTraining(e)
		res, err := ev.Evaluate(ctx, e)
		if err != nil {
			return err
		}
		if res.Promoted != nil {
			metrics.ObservePromotion(*res.Promoted)
			log.Info("promotion written", "run_id", res.Promoted.RunID, "model_type", res.Promoted.ModelType, "score", res.Promoted.Score)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to consume %s: %w", events.TopicModelTraining, err)
	}
	log.Info("waiting for trained models", "topic", events.TopicModelTraining, "consumer", "eval", "listen", o.listen)
	<-ctx.Done()
	sub.Stop()
	log.Info("stopped")
	return nil
}

// handler serves /healthz (the process answers), /ready (every dependency
// answers now: while one is down, events wait and retry, and the pod says
// so), /promotion (current.json, 404 before any) and /metrics.
func handler(store func() objstore.Reader, metrics func() http.Handler, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok", "service": "eval", "store_ready": store() != nil})
	})
	mux.HandleFunc("GET /ready", httpjson.Ready(ready))
	mux.HandleFunc("GET /promotion", func(w http.ResponseWriter, r *http.Request) {
		s := store()
		if s == nil {
			httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "ERROR", "error": "object store not reachable yet"})
			return
		}
		body, err := s.Get(r.Context(), objstore.BucketModelPromotion, pipeline.CurrentKey)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			httpjson.Write(w, http.StatusNotFound, map[string]string{"status": "ERROR", "error": "no model promoted yet"})
		case err != nil:
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"status": "ERROR", "error": err.Error()})
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		h := metrics()
		if h == nil {
			httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "ERROR", "error": "not connected to its dependencies yet"})
			return
		}
		h.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"status": "ERROR", "error": "no route " + r.Method + " " + r.URL.Path})
	})
	return mux
}
