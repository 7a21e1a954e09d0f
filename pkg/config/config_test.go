package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func parse(t *testing.T, env map[string]string, args ...string) (*Common, error) {
	t.Helper()
	var c Common
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Register(fs, MapEnv(env))
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

func TestEnvDefaultsAndFlagOverride(t *testing.T) {
	c, err := parse(t, map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b", EnvNATSURL: "nats://x:1"}, "--nats-url", "nats://y:2")
	if err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	if c.NATSURL != "nats://y:2" || c.S3AccessKey != "a" || c.S3Endpoint != "minio:9000" || c.TrackingURL != "http://tracking:5000" {
		t.Fatalf("unexpected config %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := parse(t, nil, "--log-level", "loud", "--tracking-url", "ftp://x", "--s3-endpoint", "http://minio:9000")
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"--s3-access-key", "--s3-secret-key", "--log-level", "--tracking-url", "--s3-endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// FLTS_S3_SECURE=yes used to mean plaintext silently.
func TestRegisterRejectsInvalidEnvironment(t *testing.T) {
	var c Common
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.Register(fs, MapEnv(map[string]string{EnvS3Secure: "yes", EnvS3AccessKey: "a", EnvS3SecretKey: "s"}))
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), `FLTS_S3_SECURE="yes" is not a boolean`) {
		t.Fatalf("Validate = %v, want the invalid FLTS_S3_SECURE named", err)
	}
}

func TestStreamLimitsComeFromTheEnvironment(t *testing.T) {
	keys := map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"}
	c, err := parse(t, keys)
	if err != nil || c.StreamMaxBytes != DefaultStreamMaxBytes || c.StreamMaxAge != DefaultStreamMaxAge {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	keys[EnvStreamMaxBytes], keys[EnvStreamMaxAge] = "1048576", "2h"
	if c, err = parse(t, keys); err != nil || c.StreamMaxBytes != 1<<20 || c.StreamMaxAge.String() != "2h0m0s" {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	keys[EnvStreamMaxAge] = "a week"
	if _, err := parse(t, keys); err == nil || !strings.Contains(err.Error(), EnvStreamMaxAge) {
		t.Fatalf("a bad duration: %v, want the variable named", err)
	}
	if _, err := parse(t, map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"}, "--stream-max-bytes", "-1"); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("a negative bound: %v", err)
	}
}
