package config

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

type testOptions struct {
	common Common
	fail   bool
}

// testCommand parses the common flags plus --fail, which makes Run fail;
// ran records whether Run was called and with which options.
func testCommand(ran *[]testOptions) Command[testOptions] {
	return Command[testOptions]{
		Name: "tool",
		Parse: func(args []string, getenv Getenv, stderr io.Writer) (testOptions, error) {
			var o testOptions
			fs := flag.NewFlagSet("tool", flag.ContinueOnError)
			fs.SetOutput(stderr)
			o.common.Register(fs, getenv)
			fs.BoolVar(&o.fail, "fail", false, "make Run fail")
			if err := fs.Parse(args); err != nil {
				return o, err
			}
			return o, o.common.Validate()
		},
		Logger: func(o testOptions, stderr io.Writer) *slog.Logger { return NewLogger(stderr, o.common.LogLevel) },
		Run: func(ctx context.Context, o testOptions, log *slog.Logger) error {
			*ran = append(*ran, o)
			if ctx.Err() != nil {
				return fmt.Errorf("context already done: %w", ctx.Err())
			}
			if o.fail {
				return errors.New("boom")
			}
			log.Info("worked")
			return nil
		},
	}
}

func TestExecExitCodes(t *testing.T) {
	env := MapEnv(map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"})
	cases := []struct {
		name    string
		args    []string
		env     Getenv
		code    int
		runs    bool
		stderrs []string
	}{
		{"success", nil, env, ExitOK, true, []string{`"msg":"worked"`}},
		{"help", []string{"-h"}, env, ExitOK, false, []string{"-fail"}},
		{"unknown flag", []string{"--nope"}, env, ExitBadUse, false, []string{"tool: invalid configuration:", "flag provided but not defined"}},
		{"invalid config", nil, MapEnv(nil), ExitBadUse, false, []string{"tool: invalid configuration:", "--s3-access-key"}},
		{"run fails", []string{"--fail"}, env, ExitFailed, true, []string{`"msg":"tool failed"`, `"error":"boom"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ran []testOptions
			var stderr bytes.Buffer
			code := testCommand(&ran).Exec(context.Background(), c.args, c.env, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, stderr.String())
			}
			if (len(ran) == 1) != c.runs || len(ran) > 1 {
				t.Errorf("Run called %d times, want it called: %v", len(ran), c.runs)
			}
			for _, want := range c.stderrs {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), want)
				}
			}
		})
	}
}

func TestExecLoggerIsBuiltFromOptions(t *testing.T) {
	var ran []testOptions
	var stderr bytes.Buffer
	env := MapEnv(map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"})
	if code := testCommand(&ran).Exec(context.Background(), []string{"--log-level", "warn"}, env, &stderr); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "worked") {
		t.Errorf("info line logged at --log-level warn: %q", stderr.String())
	}
	if len(ran) != 1 || ran[0].common.S3AccessKey != "a" {
		t.Errorf("Run got options %+v, want the parsed ones", ran)
	}
}

func TestExecCustomUsageAndFailMessage(t *testing.T) {
	var ran []testOptions
	cmd := testCommand(&ran)
	cmd.FailMessage = "tool server failed"
	cmd.Usage = func(w io.Writer, err error) { fmt.Fprintf(w, "tool: %v\n", err) }
	env := MapEnv(map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"})

	var stderr bytes.Buffer
	if code := cmd.Exec(context.Background(), []string{"--nope"}, env, &stderr); code != ExitBadUse ||
		!strings.Contains(stderr.String(), "\ntool: flag provided but not defined") || strings.Contains(stderr.String(), "invalid configuration") {
		t.Errorf("custom usage: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := cmd.Exec(context.Background(), []string{"--fail"}, env, &stderr); code != ExitFailed || !strings.Contains(stderr.String(), `"msg":"tool server failed"`) {
		t.Errorf("custom fail message: exit %d, stderr %q", code, stderr.String())
	}
}

func TestExecRunSeesCancellation(t *testing.T) {
	var ran []testOptions
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := MapEnv(map[string]string{EnvS3AccessKey: "a", EnvS3SecretKey: "b"})
	if code := testCommand(&ran).Exec(ctx, nil, env, &stderr); code != ExitFailed || !strings.Contains(stderr.String(), "context already done") {
		t.Errorf("cancelled parent: exit %d, stderr %q; Run must get a context derived from Exec's", code, stderr.String())
	}
}
