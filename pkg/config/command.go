package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Command is one binary's entry point. Every image's main used to repeat
// the same skeleton (parse, -h exits 0, bad flags exit 2, JSON logger,
// SIGINT/SIGTERM cancel the context, a run error is logged and exits 1);
// Command holds the parts that differ so the skeleton and its exit codes
// live, and are tested, in one place.
type Command[O any] struct {
	// Name prefixes bad-flag messages and names the failure log line.
	Name string
	// Parse reads and validates the command line. flag.ErrHelp means -h
	// was asked for (the flag set has printed the usage itself).
	Parse func(args []string, getenv Getenv, stderr io.Writer) (O, error)
	// Logger builds the logger for valid options, writing to stderr.
	Logger func(o O, stderr io.Writer) *slog.Logger
	// Run does the work until it is done or ctx is cancelled by a signal.
	Run func(ctx context.Context, o O, log *slog.Logger) error

	// FailMessage is the message of the log line of a Run error; empty
	// means "<Name> failed".
	FailMessage string
	// Usage writes a bad command line's error; nil means
	// "<Name>: invalid configuration:\n<err>" (see ExitUsage).
	Usage func(w io.Writer, err error)
}

// Pipeline is the Command of a pipeline binary whose options embed Common:
// its logger is JSON at the --log-level they carry.
func Pipeline[O interface{ Level() string }](name string,
	parse func(args []string, getenv Getenv, stderr io.Writer) (O, error),
	run func(ctx context.Context, o O, log *slog.Logger) error) Command[O] {
	return Command[O]{Name: name, Parse: parse, Run: run,
		Logger: func(o O, stderr io.Writer) *slog.Logger { return NewLogger(stderr, o.Level()) }}
}

// Main runs c with the process's arguments, environment and stderr and
// exits with Exec's code.
func (c Command[O]) Main() {
	os.Exit(c.Exec(context.Background(), os.Args[1:], OSGetenv, os.Stderr))
}

// Exit codes of Exec.
const (
	ExitOK     = 0 // Run succeeded, or -h
	ExitFailed = 1 // Run returned an error
	ExitBadUse = 2 // the command line or configuration is invalid
)

// Exec is Main without the process: it returns the exit code instead of
// exiting, so tests can drive it. ctx is further cancelled on SIGINT and
// SIGTERM.
func (c Command[O]) Exec(ctx context.Context, args []string, getenv Getenv, stderr io.Writer) int {
	o, err := c.Parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		if c.Usage != nil {
			c.Usage(stderr, err)
		} else {
			writeUsage(stderr, c.Name, err)
		}
		return ExitBadUse
	}
	log := c.Logger(o, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Run(ctx, o, log); err != nil {
		msg := c.FailMessage
		if msg == "" {
			msg = c.Name + " failed"
		}
		log.Error(msg, "error", err)
		return ExitFailed
	}
	return ExitOK
}

// ExitUsage prints err for a bad flag or config and exits with code 2.
func ExitUsage(prog string, err error) {
	writeUsage(os.Stderr, prog, err)
	os.Exit(ExitBadUse)
}

func writeUsage(w io.Writer, prog string, err error) {
	fmt.Fprintf(w, "%s: invalid configuration:\n%v\n", prog, err)
}

// MapEnv is Getenv over a fixed map (tests, or an environment built in code).
func MapEnv(m map[string]string) Getenv {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}
