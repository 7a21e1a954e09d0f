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
