// Command tracking serves the MLflow REST API subset of pkg/tracking on
// --listen, keeping experiments, runs and artifacts in MinIO (or, with
// --store-dir, in a local directory for the cluster-less run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flts/flts-e2e/pkg/backoff"
	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/dirstore"
	"github.com/flts/flts-e2e/pkg/objstore/s3store"
	trackingserver "github.com/flts/flts-e2e/pkg/tracking/server"
)

// shutdownTimeout bounds draining in-flight requests after SIGTERM; it is
// below Kubernetes' default 30s grace period.
const shutdownTimeout = 20 * time.Second

type options struct {
	listen       string
	s3Endpoint   string
	s3AccessKey  string
	s3SecretKey  string
	s3Secure     bool
	storeDir     string
	logLevel     slog.Level
	maxBodyBytes int64
}

func main() { command().Main() }

// command keeps the server's own flags (it does not share the pipeline's
// config.Common) and its terse bad-flag message.
func command() config.Command[options] {
	return config.Command[options]{
		Name:  "tracking",
		Parse: parseConfig,
		Logger: func(o options, stderr io.Writer) *slog.Logger {
			return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
		},
		Run:         serve,
		FailMessage: "tracking server failed",
		Usage:       func(w io.Writer, err error) { fmt.Fprintf(w, "tracking: %v\n", err) },
	}
}

func parseConfig(args []string, lookupEnv config.Getenv, stderr io.Writer) (options, error) {
	env := config.NewEnv(lookupEnv)
	fs := flag.NewFlagSet("tracking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg options
	var logLevel string
	fs.StringVar(&cfg.listen, "listen", env.String("FLTS_TRACKING_LISTEN", ":5000"), "address to serve the API and page on (env FLTS_TRACKING_LISTEN)")
	fs.StringVar(&cfg.s3Endpoint, "s3-endpoint", env.String(config.EnvS3Endpoint, "minio:9000"), "S3 endpoint host:port (env "+config.EnvS3Endpoint+")")
	fs.StringVar(&cfg.s3AccessKey, "s3-access-key", env.String(config.EnvS3AccessKey, ""), "S3 access key, required unless --store-dir (env "+config.EnvS3AccessKey+")")
	fs.StringVar(&cfg.s3SecretKey, "s3-secret-key", env.String(config.EnvS3SecretKey, ""), "S3 secret key, required unless --store-dir (env "+config.EnvS3SecretKey+")")
	fs.BoolVar(&cfg.s3Secure, "s3-secure", env.Bool(config.EnvS3Secure, false), "use https for S3 (env "+config.EnvS3Secure+")")
	fs.StringVar(&cfg.storeDir, "store-dir", env.String("FLTS_TRACKING_STORE_DIR", ""), "keep data in this directory instead of S3 (env FLTS_TRACKING_STORE_DIR)")
	fs.StringVar(&logLevel, "log-level", env.String(config.EnvLogLevel, "info"), "debug, info, warn or error (env "+config.EnvLogLevel+")")
	fs.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", int64(env.Int("FLTS_TRACKING_MAX_BODY_BYTES", trackingserver.DefaultMaxBodyBytes)), "largest accepted request body (env FLTS_TRACKING_MAX_BODY_BYTES)")
	if err := fs.Parse(args); err != nil {
		return options{}, err // flag.ErrHelp included: Exec exits 0 on it
	}
	if err := env.Err(); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level, err := config.ParseLevel(logLevel)
	if err != nil {
		return options{}, err
	}
	cfg.logLevel = level
	if cfg.maxBodyBytes <= 0 {
		return options{}, fmt.Errorf("--max-body-bytes must be a positive integer, got %d", cfg.maxBodyBytes)
	}
	if cfg.listen == "" {
		return options{}, errors.New("--listen must not be empty")
	}
	if cfg.storeDir == "" {
		if strings.TrimSpace(cfg.s3Endpoint) == "" {
			return options{}, errors.New("--s3-endpoint must not be empty")
		}
		if cfg.s3AccessKey == "" || cfg.s3SecretKey == "" {
			return options{}, errors.New("--s3-access-key and --s3-secret-key (or FLTS_S3_ACCESS_KEY and FLTS_S3_SECRET_KEY) are required")
		}
	}
	return cfg, nil
}

func newStore(cfg options, logger *slog.Logger) (objstore.Store, error) {
	if cfg.storeDir != "" {
		return dirstore.New(cfg.storeDir, logger)
	}
	return s3store.New(s3store.Config{Endpoint: cfg.s3Endpoint, AccessKey: cfg.s3AccessKey,
		SecretKey: cfg.s3SecretKey, Secure: cfg.s3Secure}, logger)
}

// serve listens at once (probes answer 503 until the store is ready),
// retries the store until it is ready, then serves until ctx is done.
func serve(ctx context.Context, cfg options, logger *slog.Logger) error {
	store, err := newStore(cfg, logger)
	if err != nil {
		return err
	}
	api := trackingserver.New(store, trackingserver.WithLogger(logger), trackingserver.WithMaxBodyBytes(cfg.maxBodyBytes))
	var ready atomic.Bool
	srv := &http.Server{
		Addr:              cfg.listen,
		Handler:           readyGate(&ready, api),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() {
		logger.Info("listening", "addr", cfg.listen)
		errc <- srv.ListenAndServe()
	}()

	initErr := initStore(ctx, api, logger)
	if initErr == nil {
		ready.Store(true)
		logger.Info("tracking server ready")
	}
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve on %s: %w", cfg.listen, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("failed to shut down: %w", err)
	}
	if initErr != nil && !errors.Is(initErr, context.Canceled) {
		return initErr
	}
	return nil
}

// initStore creates the bucket and default experiment, retrying with
// backoff while the object store starts.
func initStore(ctx context.Context, api *trackingserver.Server, logger *slog.Logger) error {
	return backoff.Retry(ctx, logger, "object store", backoff.Dependency, func(ctx context.Context) error {
		// One attempt may not hang on a store that accepts and never answers.
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return api.Init(attemptCtx)
	})
}

// readyGate answers 503 until ready is set, so probes and clients see the
// server starting rather than failing. /healthz (liveness: the process
// serves) passes: waiting for the store must not get the pod restarted.
func readyGate(ready *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() && r.URL.Path != "/healthz" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error_code":"TEMPORARILY_UNAVAILABLE","message":"waiting for the object store","status":"starting"}`+"\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}
