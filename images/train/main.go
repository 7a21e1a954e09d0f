// Command train trains one model type (GRU, LSTM or PROPHET). By default it
// runs as a Deployment consuming training-data with the durable consumer
// train-<model>; with --once it trains the newest processed data and exits.
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
	"strconv"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/backoff"
	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/httpjson"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/model/rnn"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

type options struct {
	config.Common
	modelType string
	params    map[string]string
	seed      int64
	once      bool
	listen    string
}

// rnnFlags maps the flags of the neural models to forecast's parameter names.
var rnnFlags = map[string]string{"epochs": "epochs", "hidden": "hidden", "lr": "learning_rate", "batch": "batch_size"}

func parse(args []string, getenv config.Getenv, out io.Writer) (options, error) {
	o := options{params: map[string]string{}}
	rnnDefaults := rnn.DefaultParams()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(out)
	o.Common.Register(fs, getenv)
	modelName := fs.String("model", "", "model type to train: gru | lstm | prophet (required)")
	epochs := fs.Int("epochs", rnnDefaults.Epochs, "training epochs (GRU/LSTM); unset: rnn.DefaultParams")
	hidden := fs.Int("hidden", rnnDefaults.Hidden, "hidden units (GRU/LSTM)")
	lr := fs.Float64("lr", rnnDefaults.LearningRate, "Adam learning rate (GRU/LSTM)")
	batch := fs.Int("batch", rnnDefaults.BatchSize, "mini-batch size (GRU/LSTM)")
	fs.Int64Var(&o.seed, "seed", 42, "training seed (same data and seed: same model)")
	fs.BoolVar(&o.once, "once", false, "train the newest processed data once and exit instead of consuming training-data")
	fs.StringVar(&o.listen, "listen", ":8080", "address of /healthz and /ready (not with --once)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	o.modelType = strings.ToUpper(*modelName)
	switch o.modelType {
	case model.TypeGRU, model.TypeLSTM, model.TypeProphet:
	case "":
		errs = append(errs, errors.New("--model is required: gru | lstm | prophet"))
	default:
		errs = append(errs, fmt.Errorf("--model %q is not one of gru, lstm, prophet", *modelName))
	}
	values := map[string]string{"epochs": strconv.Itoa(*epochs), "hidden": strconv.Itoa(*hidden),
		"lr": strconv.FormatFloat(*lr, 'g', -1, 64), "batch": strconv.Itoa(*batch)}
	switch {
	case *epochs < 1 || *epochs > 10000:
		errs = append(errs, fmt.Errorf("--epochs must be in [1, 10000], got %d", *epochs))
	case *hidden < 1 || *hidden > 1024:
		errs = append(errs, fmt.Errorf("--hidden must be in [1, 1024], got %d", *hidden))
	case !(*lr > 0 && *lr <= 1):
		errs = append(errs, fmt.Errorf("--lr must be in (0, 1], got %g", *lr))
	case *batch < 1 || *batch > 100000:
		errs = append(errs, fmt.Errorf("--batch must be in [1, 100000], got %d", *batch))
	}
	// Only flags given explicitly become parameters, so forecast's own
	// defaults apply otherwise; PROPHET has none of these.
	fs.Visit(func(f *flag.Flag) {
		name, ok := rnnFlags[f.Name]
		if !ok {
			return
		}
		if o.modelType == model.TypeProphet {
			errs = append(errs, fmt.Errorf("--%s applies to gru and lstm only", f.Name))
			return
		}
		o.params[name] = values[f.Name]
	})
	errs = append(errs, o.Common.Validate())
	return o, errors.Join(errs...)
}

func main() {
	config.Pipeline("train", parse, run).Main()
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	var conns *pipeline.Conns
	connected := make(chan struct{})
	if !o.once {
		stop, err := serveProbes(o.listen, func(ctx context.Context) error {
			select {
			case <-connected:
				return conns.Ready(ctx)
			default:
				return errors.New("not connected to its dependencies yet")
			}
		}, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	conns, err := pipeline.Connect(ctx, o.Common, pipeline.Need{Store: true, Bus: true, Tracker: true}, log)
	if err != nil {
		return err
	}
	defer conns.Close()
	close(connected)
	deps := pipeline.Deps{Store: conns.Store, Events: conns.Bus, Tracker: conns.Tracker, Logger: log}
	cfg := pipeline.TrainConfig{ModelType: o.modelType, Params: o.params, Train: pipeline.ForecastTrainer(o.seed)}

	if o.once {
		var latest pipeline.LatestData
		if err := backoff.Retry(ctx, log, "processed data", backoff.Dependency, func(ctx context.Context) error {
			latest, err = pipeline.ReadLatestData(ctx, conns.Store)
			return err
		}); err != nil {
			return err
		}
		ev := events.Event{Operation: "Processed", Status: events.StatusSuccess, ConfigHash: latest.ConfigHash,
			Object: objstore.BucketProcessed + "/" + pipeline.ProcessedKey(latest.ConfigHash, "meta.json"), Timestamp: time.Now()}
		res, err := pipeline.Train(ctx, deps, cfg, ev)
		if err != nil {
			return err
		}
		log.Info("trained once", "run_id", res.RunID, "skipped", res.Skipped)
		return nil
	}

	consumer := "train-" + strings.ToLower(o.modelType)
	sub, err := conns.Bus.Start(ctx, events.TopicTrainingData, consumer, func(ctx context.Context, ev events.Event) error {
		start := time.Now()
		res, err := pipeline.Train(ctx, deps, cfg, ev)
		if errors.Is(err, pipeline.ErrModelFailed) {
			// Recorded as a FAILED run and event; a redelivery would fail the same way.
			log.Error("training failed; not retrying", "model_type", o.modelType, "run_id", res.RunID, "error", err)
			return nil
		}
		if err != nil {
			return err
		}
		log.Info("training-data event handled", "model_type", o.modelType, "run_id", res.RunID, "skipped", res.Skipped, "seconds", time.Since(start).Seconds())
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to consume %s: %w", events.TopicTrainingData, err)
	}
	log.Info("waiting for training data", "model_type", o.modelType, "topic", events.TopicTrainingData, "consumer", consumer)
	<-ctx.Done()
	sub.Stop()
	log.Info("stopped")
	return nil
}

// serveProbes answers the kubelet on addr: /healthz while the process
// runs, /ready while ready passes (every dependency answers; a training
// event waits and retries meanwhile). The returned function stops it.
func serveProbes(addr string, ready func(context.Context) error, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok", "service": "train"})
	})
	mux.HandleFunc("GET /ready", httpjson.Ready(ready))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("probe server failed", "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
