// Command flts-local runs the whole pipeline on a developer machine without
// Kubernetes: an embedded NATS server, a directory object store and an
// in-process tracking server; then preprocess, the GRU, LSTM and PROPHET
// trainings, eval and promotion; then it serves the inference API.
//
//	go run ./tools/cmd/flts-local [--dir DIR] [--csv FILE | --rows N] [--epochs N] [--listen :8000]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/dataset"
)

func parse(args []string, out io.Writer) (options, string, error) {
	o := options{promotionTimeout: 2 * time.Minute}
	fs := flag.NewFlagSet("flts-local", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.dir, "dir", "", "data directory kept after the run (default: a temporary one, removed at exit)")
	fs.IntVar(&o.rows, "rows", dataset.DefaultRows, "rows of the generated raw dataset (without --csv)")
	fs.StringVar(&o.csv, "csv", "", "your own raw dataset (CSV: time plus the 11 KPI columns) instead of a generated one; checked before it is stored")
	fs.Int64Var(&o.seed, "seed", 42, "seed of the data and the trainings")
	fs.IntVar(&o.epochs, "epochs", 5, "GRU/LSTM training epochs")
	fs.IntVar(&o.hidden, "hidden", 16, "GRU/LSTM hidden units")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8000", "address of the inference API")
	fs.StringVar(&o.metricsListen, "metrics-listen", "127.0.0.1:9091", "address of the inference metrics (empty: none)")
	fs.BoolVar(&o.exitAfterPromotion, "exit-after-promotion", false, "exit once the promoted model answers a prediction, instead of serving")
	logLevel := fs.String("log-level", "warn", "log level of the components (logs go to stderr)")
	if err := fs.Parse(args); err != nil {
		return o, "", err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if o.csv != "" {
		if info, err := os.Stat(o.csv); err != nil {
			errs = append(errs, fmt.Errorf("--csv: %w", err))
		} else if !info.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("--csv %s is not a regular file", o.csv))
		}
	}
	if o.rows < 200 {
		errs = append(errs, fmt.Errorf("--rows must be at least 200, got %d", o.rows))
	}
	if o.epochs < 1 || o.hidden < 1 {
		errs = append(errs, fmt.Errorf("--epochs and --hidden must be positive, got %d and %d", o.epochs, o.hidden))
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port", o.listen))
	}
	if _, err := config.ParseLevel(*logLevel); err != nil {
		errs = append(errs, err)
	}
	return o, *logLevel, errors.Join(errs...)
}

func main() {
	o, level, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		config.ExitUsage("flts-local", err)
	}
	log := config.NewLogger(os.Stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := setup(ctx, o, os.Stdout, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flts-local:", err)
		os.Exit(1)
	}
	defer l.close()
	if o.exitAfterPromotion {
		body, err := selfCheck(ctx, l)
		if err != nil {
			fmt.Fprintln(os.Stderr, "flts-local: self-check failed:", err)
			l.close()
			os.Exit(1)
		}
		fmt.Printf("self-check POST /predict: %s", body)
		return
	}
	fmt.Printf("try: curl -s -XPOST 'http://%s/predict?inference_length=3'\n(Ctrl-C to stop)\n", l.api.Addr())
	if err := l.serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flts-local:", err)
		l.close()
		os.Exit(1)
	}
}
