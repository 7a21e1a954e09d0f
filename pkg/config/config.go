package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Common is the configuration shared by every pipeline binary.
type Common struct {
	NATSURL     string
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	S3Secure    bool
	TrackingURL string
	LogLevel    string
	// StreamMaxBytes and StreamMaxAge bound each JetStream stream the
	// pipeline creates (0: no bound), so the broker's volume cannot fill.
	StreamMaxBytes int
	StreamMaxAge   time.Duration
	// envErr holds the invalid environment variables Register read;
	// Validate reports them.
	envErr error
}

// Level is the --log-level, for Pipeline's logger.
func (c Common) Level() string { return c.LogLevel }

// Env names the environment variable that gives each flag its default.
const (
	EnvNATSURL        = "FLTS_NATS_URL"
	EnvS3Endpoint     = "FLTS_S3_ENDPOINT"
	EnvS3AccessKey    = "FLTS_S3_ACCESS_KEY"
	EnvS3SecretKey    = "FLTS_S3_SECRET_KEY"
	EnvS3Secure       = "FLTS_S3_SECURE"
	EnvTrackingURL    = "FLTS_TRACKING_URL"
	EnvLogLevel       = "FLTS_LOG_LEVEL"
	EnvStreamMaxBytes = "FLTS_STREAM_MAX_BYTES"
	EnvStreamMaxAge   = "FLTS_STREAM_MAX_AGE"
)

// Getenv looks up an environment variable; os.LookupEnv in mains, a map in tests.
type Getenv func(key string) (string, bool)

// Register adds the common flags to fs with defaults from getenv. A set
// but invalid variable is reported by Validate.
func (c *Common) Register(fs *flag.FlagSet, getenv Getenv) {
	env := NewEnv(getenv)
	fs.StringVar(&c.NATSURL, "nats-url", env.String(EnvNATSURL, "nats://nats:4222"), "NATS server URL (env "+EnvNATSURL+")")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env.String(EnvS3Endpoint, "minio:9000"), "S3 endpoint host:port (env "+EnvS3Endpoint+")")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", env.String(EnvS3AccessKey, ""), "S3 access key, required (env "+EnvS3AccessKey+")")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", env.String(EnvS3SecretKey, ""), "S3 secret key, required (env "+EnvS3SecretKey+")")
	fs.BoolVar(&c.S3Secure, "s3-secure", env.Bool(EnvS3Secure, false), "use TLS to the S3 endpoint (env "+EnvS3Secure+")")
	fs.StringVar(&c.TrackingURL, "tracking-url", env.String(EnvTrackingURL, "http://tracking:5000"), "tracking server base URL (env "+EnvTrackingURL+")")
	fs.StringVar(&c.LogLevel, "log-level", env.String(EnvLogLevel, "info"), "log level: debug|info|warn|error (env "+EnvLogLevel+")")
	fs.IntVar(&c.StreamMaxBytes, "stream-max-bytes", env.Int(EnvStreamMaxBytes, DefaultStreamMaxBytes),
		"bytes each event stream keeps at most, oldest dropped first; 0: no bound (env "+EnvStreamMaxBytes+")")
	fs.DurationVar(&c.StreamMaxAge, "stream-max-age", env.Duration(EnvStreamMaxAge, DefaultStreamMaxAge),
		"age after which events are dropped; 0: no bound (env "+EnvStreamMaxAge+")")
	c.envErr = env.Err()
}

// The default stream bounds: events are small claim checks (a few hundred
// bytes), so 32 MiB is about a hundred thousand of them per stream, and six
// streams (five topics and the dead letters) fit the chart's 256 MiB
// broker volume; a week is longer than any pipeline run waits on an event.
const (
	DefaultStreamMaxBytes = 32 << 20
	DefaultStreamMaxAge   = 7 * 24 * time.Hour
)

// Validate reports every problem with c at once.
func (c *Common) Validate() error {
	errs := []error{c.envErr}
	if c.NATSURL == "" {
		errs = append(errs, errors.New("--nats-url is required"))
	} else if u, err := url.Parse(c.NATSURL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("--nats-url %q is not a URL like nats://host:4222", c.NATSURL))
	}
	if c.S3Endpoint == "" || strings.Contains(c.S3Endpoint, "/") {
		errs = append(errs, fmt.Errorf("--s3-endpoint %q must be host:port without scheme", c.S3Endpoint))
	}
	if c.S3AccessKey == "" {
		errs = append(errs, fmt.Errorf("--s3-access-key (or %s) is required", EnvS3AccessKey))
	}
	if c.S3SecretKey == "" {
		errs = append(errs, fmt.Errorf("--s3-secret-key (or %s) is required", EnvS3SecretKey))
	}
	if c.StreamMaxBytes < 0 || c.StreamMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--stream-max-bytes and --stream-max-age must not be negative, got %d and %s", c.StreamMaxBytes, c.StreamMaxAge))
	}
	if u, err := url.Parse(c.TrackingURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--tracking-url %q is not an http(s) URL", c.TrackingURL))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ParseLevel turns a --log-level value into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// NewLogger returns a JSON logger on w at level (already validated).
func NewLogger(w io.Writer, level string) *slog.Logger {
	l, err := ParseLevel(level)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// OSGetenv is Getenv over the process environment.
func OSGetenv(key string) (string, bool) { return os.LookupEnv(key) }
