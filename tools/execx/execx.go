// Package execx runs external commands and returns errors that carry the
// command line and its output, so a failure can be pasted into a shell and
// reproduced as is.
package execx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"al.essio.dev/pkg/shellescape"
)

// maxOutput bounds how much combined output an error keeps: enough to see
// the cause, not the whole build log.
const maxOutput = 4000

// Cmd describes one command to run.
type Cmd struct {
	Name  string
	Args  []string
	Dir   string
	Env   []string // appended to the current environment
	Stdin io.Reader
	// Stdout, when set, receives standard output instead of it being captured.
	Stdout io.Writer
	// Stderr, when set, also receives standard error as it is written
	// (a progress counter, say); the error still carries its tail.
	Stderr io.Writer
}

// Command builds a Cmd.
func Command(name string, args ...string) *Cmd {
	return &Cmd{Name: name, Args: args}
}

// Runner runs commands. Components that orchestrate many commands (the
// engine, the node image builder) take one in their options, the way kind
// takes a Cmder: Host in production, a fake (execxtest.Fake) in tests of
// what runs in which order and what a failed step leaves behind.
type Runner interface {
	// Run runs c and discards its output unless it fails.
	Run(ctx context.Context, c *Cmd) error
	// Output runs c and returns its standard output.
	Output(ctx context.Context, c *Cmd) (string, error)
}

// Host runs commands as child processes of this one.
type Host struct{}

var _ Runner = Host{}

// OrHost returns r, or Host when r is nil (an option left unset).
func OrHost(r Runner) Runner {
	if r == nil {
		return Host{}
	}
	return r
}

// Error is returned when a command fails; Error() is pasteable.
type Error struct {
	Line   string
	Dir    string
	Output string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("command failed: ")
	if e.Dir != "" {
		fmt.Fprintf(&b, "(cd %s && %s)", shellescape.Quote(e.Dir), e.Line)
	} else {
		b.WriteString(e.Line)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		b.WriteString("\n")
		b.WriteString(out)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// String renders the command as a shell line.
func (c *Cmd) String() string {
	parts := make([]string, 0, len(c.Args)+len(c.Env)+1)
	for _, e := range c.Env {
		parts = append(parts, shellescape.Quote(e))
	}
	parts = append(parts, shellescape.Quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, shellescape.Quote(a))
	}
	return strings.Join(parts, " ")
}

// Output runs the command on the host (Host.Output).
func (c *Cmd) Output(ctx context.Context) (string, error) { return Host{}.Output(ctx, c) }

// Run runs the command on the host (Host.Run).
func (c *Cmd) Run(ctx context.Context) error { return Host{}.Run(ctx, c) }

// Output runs c and returns its standard output. Standard error is kept for
// the error message.
func (Host) Output(ctx context.Context, c *Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := c.build(ctx)
	cmd.Stdout = &stdout
	if c.Stdout != nil {
		cmd.Stdout = io.MultiWriter(&stdout, c.Stdout)
	}
	cmd.Stderr = c.teeStderr(&stderr)
	if err := cmd.Run(); err != nil {
		return stdout.String(), &Error{Line: c.String(), Dir: c.Dir, Output: tail(stderr.String() + stdout.String()), Err: err}
	}
	return stdout.String(), nil
}

// Run runs c and discards its output unless it fails.
func (Host) Run(ctx context.Context, c *Cmd) error {
	// One buffer per stream: os/exec copies each stream in a goroutine of
	// its own, and a shared buffer lost standard error whenever a sink
	// (c.Stderr) made the streams differ (bytes.Buffer's ReadFrom on
	// stdout cut what the stderr copy had written: a failed `go build`
	// reported no reason, seen 2026-11-28).
	var stdout, stderr bytes.Buffer
	cmd := c.build(ctx)
	cmd.Stdout = &stdout
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.Stderr = c.teeStderr(&stderr)
	if err := cmd.Run(); err != nil {
		return &Error{Line: c.String(), Dir: c.Dir, Output: tail(stderr.String() + stdout.String()), Err: err}
	}
	return nil
}

func (c *Cmd) teeStderr(capture io.Writer) io.Writer {
	if c.Stderr == nil {
		return capture
	}
	return io.MultiWriter(capture, c.Stderr)
}

// waitDelay bounds how long Wait waits for output pipes after the process
// group was killed: a grandchild that escaped it must not hang the caller.
const waitDelay = 10 * time.Second

func (c *Cmd) build(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	// The child leads a process group of its own, and cancelling kills the
	// whole group: `go build` compilers, debootstrap's dpkg and apt's
	// helpers die with it instead of outliving the caller.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	return cmd
}

func tail(s string) string {
	if len(s) <= maxOutput {
		return s
	}
	return "…" + s[len(s)-maxOutput:]
}
