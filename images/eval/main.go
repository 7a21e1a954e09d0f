// Command eval consumes model-training with the durable consumer "eval",
// promotes the best model of the newest data version once GRU, LSTM and
// PROPHET have all trained on it, and serves /healthz and /promotion.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/httpjson"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

type options struct {
	config.Common
	listen string
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
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port: %w", o.listen, err))
	}
	errs = append(errs, o.Common.Validate())
	return o, errors.Join(errs...)
}

func main() {
	config.Pipeline("eval", parse, run).Main()
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.listen, err)
	}
	var store objstore.Reader // set once connected; /promotion answers 503 before
	ready := make(chan struct{})
	srv := &http.Server{Handler: handler(func() objstore.Reader {
		select {
		case <-ready:
			return store
		default:
			return nil
		}
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

	conns, err := pipeline.Connect(ctx, o.Common, pipeline.Need{Store: true, Bus: true, Tracker: true}, log)
	if err != nil {
		return err
	}
	defer conns.Close()
	store = conns.Store
	close(ready)
	ev := &pipeline.Evaluator{Deps: pipeline.Deps{Store: conns.Store, Events: conns.Bus, Tracker: conns.Tracker, Logger: log}}
	sub, err := conns.Bus.Start(ctx, events.TopicModelTraining, "eval", func(ctx context.Context, e events.Event) error {
		res, err := ev.Evaluate(ctx, e)
		if err != nil {
			return err
		}
		if res.Promoted != nil {
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

// handler serves /healthz and /promotion (current.json, 404 before any).
func handler(store func() objstore.Reader) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok", "service": "eval", "store_ready": store() != nil})
	})
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"status": "ERROR", "error": "no route " + r.Method + " " + r.URL.Path})
	})
	return mux
}
