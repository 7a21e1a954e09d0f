// Package execxtest provides a fake execx.Runner for tests of components
// that orchestrate commands: it answers by rules, records every command in
// order, and fails the test on a command no rule expects, so a test states
// exactly what a component may run.
package execxtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/flts/flts-e2e/tools/execx"
)

// Handler answers one command: its standard output and error. ctx is the
// caller's, as a real command would see it.
type Handler func(ctx context.Context, c *execx.Cmd) (string, error)

// Reply answers with stdout and success.
func Reply(stdout string) Handler {
	return func(context.Context, *execx.Cmd) (string, error) { return stdout, nil }
}

// Fail answers like a command that printed output and exited with status 1.
func Fail(output string) Handler {
	return func(_ context.Context, c *execx.Cmd) (string, error) {
		return "", &execx.Error{Line: c.String(), Dir: c.Dir, Output: output, Err: errors.New("exit status 1")}
	}
}

// Block answers only when ctx ends, like a long compile that is cancelled.
func Block() Handler {
	return func(ctx context.Context, c *execx.Cmd) (string, error) {
		<-ctx.Done()
		return "", &execx.Error{Line: c.String(), Dir: c.Dir, Err: ctx.Err()}
	}
}

type rule struct {
	prefix string
	answer Handler
}

// Fake is an execx.Runner. It is safe for concurrent use (the node image
// builder runs two steps side by side).
type Fake struct {
	t     testing.TB
	mu    sync.Mutex
	rules []rule
	calls []string
}

var _ execx.Runner = (*Fake)(nil)

// New returns a Fake that reports unexpected commands to t.
func New(t testing.TB) *Fake { return &Fake{t: t} }

// On answers every command whose line ("name arg1 arg2 ...", unquoted)
// starts with prefix. The rule added last wins, so a test can override a
// general rule with a narrower one.
func (f *Fake) On(prefix string, answer Handler) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, rule{prefix: prefix, answer: answer})
	return f
}

// Calls returns the lines of the commands run so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Ran reports whether a command starting with prefix was run.
func (f *Fake) Ran(prefix string) bool {
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// Run implements execx.Runner.
func (f *Fake) Run(ctx context.Context, c *execx.Cmd) error {
	out, err := f.answer(ctx, c)
	if c.Stdout != nil {
		_, _ = io.WriteString(c.Stdout, out)
	}
	return err
}

// Output implements execx.Runner.
func (f *Fake) Output(ctx context.Context, c *execx.Cmd) (string, error) {
	return f.answer(ctx, c)
}

func (f *Fake) answer(ctx context.Context, c *execx.Cmd) (string, error) {
	line := strings.Join(append([]string{c.Name}, c.Args...), " ")
	f.mu.Lock()
	f.calls = append(f.calls, line)
	var answer Handler
	for i := len(f.rules) - 1; i >= 0; i-- {
		if strings.HasPrefix(line, f.rules[i].prefix) {
			answer = f.rules[i].answer
			break
		}
	}
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("command not run: %s: %w", line, err)
	}
	if answer == nil {
		f.t.Errorf("unexpected command: %s", line)
		return "", fmt.Errorf("unexpected command: %s", line)
	}
	return answer(ctx, c)
}
