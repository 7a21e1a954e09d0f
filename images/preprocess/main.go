// Command preprocess is the pipeline's preprocess Job: it turns the raw KPI
// CSV (generated, seeded, when absent) into a processed data version,
// announces it on training-data and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/pipeline"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

type options struct {
	config.Common
	rows   int
	seed   int64
	rawKey string
}

func parse(args []string, getenv config.Getenv, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("preprocess", flag.ContinueOnError)
	fs.SetOutput(out)
	o.Common.Register(fs, getenv)
	fs.IntVar(&o.rows, "rows", dataset.DefaultRows, "rows of the raw dataset generated when dataset/raw/kpis.csv is absent")
	fs.Int64Var(&o.seed, "seed", preprocess.DefaultConfig().Seed, "seed of that generation (part of the data version's config hash)")
	fs.StringVar(&o.rawKey, "raw-key", pipeline.RawKey, "the raw CSV's key in the dataset bucket (make dataset passes its upload's); only the default one is generated when absent")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if o.rows < 100 || o.rows > 10_000_000 {
		errs = append(errs, fmt.Errorf("--rows must be in [100, 10000000], got %d", o.rows))
	}
	if k := o.rawKey; k == "" || strings.HasPrefix(k, "/") || strings.Contains(k, "..") || !strings.HasSuffix(k, ".csv") {
		errs = append(errs, fmt.Errorf("--raw-key must be a relative key ending in .csv, got %q", k))
	}
	if o.seed < 0 {
		errs = append(errs, fmt.Errorf("--seed must be non-negative, got %d", o.seed))
	}
	errs = append(errs, o.Common.Validate())
	return o, errors.Join(errs...)
}

func main() {
	config.Pipeline("preprocess", parse, run).Main()
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	start := time.Now()
	conns, err := pipeline.Connect(ctx, o.Common, pipeline.Need{Store: true, Bus: true}, log)
	if err != nil {
		return fmt.Errorf("failed to reach dependencies: %w", err)
	}
	defer conns.Close()
	cfg := preprocess.DefaultConfig()
	cfg.Seed = o.seed
	res, err := pipeline.Preprocess(ctx, pipeline.Deps{Store: conns.Store, Events: conns.Bus, Logger: log},
		pipeline.PreprocessConfig{Rows: o.rows, Seed: uint64(o.seed), Config: cfg, RawKey: o.rawKey})
	if err != nil {
		return err
	}
	log.Info("preprocess done", "config_hash", res.ConfigHash, "generated_raw", res.Generated, "reused", res.Reused,
		"seconds", time.Since(start).Seconds())
	return nil
}
