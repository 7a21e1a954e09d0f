package execx

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestErrorCarriesCommandLineAndOutput(t *testing.T) {
	err := Command("sh", "-c", "echo boom >&2; exit 3").Run(context.Background())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if !strings.Contains(err.Error(), `sh -c 'echo boom >&2; exit 3'`) {
		t.Errorf("error lacks pasteable command line: %q", err)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Errorf("error lacks output: %q", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("exit code not preserved: %v", err)
	}
}

// A sink for standard error (progress counting) must not cost the error
// its output.
func TestErrorKeepsOutputWithAStderrSink(t *testing.T) {
	var sink strings.Builder
	for _, run := range []func(*Cmd) error{
		func(c *Cmd) error { return c.Run(context.Background()) },
		func(c *Cmd) error { _, err := c.Output(context.Background()); return err },
	} {
		sink.Reset()
		// Built as gobuild builds its command (a literal, Stderr set).
		c := &Cmd{Name: "sh", Args: []string{"-c", "echo 'x.go:1:2: boom' >&2; exit 1"}, Stderr: &sink}
		var e *Error
		// The command line also holds the message: look at the output.
		if err := run(c); !errors.As(err, &e) || !strings.Contains(e.Output, "x.go:1:2: boom") {
			t.Errorf("error lacks the command's standard error: %v", err)
		}
		if !strings.Contains(sink.String(), "boom") {
			t.Errorf("the sink missed standard error: %q", sink.String())
		}
	}
}

func TestOutputReturnsStdout(t *testing.T) {
	c := Command("sh", "-c", "echo hello; echo noise >&2")
	out, err := c.Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out != "hello\n" {
		t.Errorf("got %q", out)
	}
}

func TestStringIncludesEnvAndDir(t *testing.T) {
	c := &Cmd{Name: "go", Args: []string{"build", "a b"}, Env: []string{"CGO_ENABLED=0"}, Dir: "/tmp/x y"}
	if got, want := c.String(), `CGO_ENABLED=0 go build 'a b'`; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	err := (&Cmd{Name: "false", Dir: "/tmp"}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "(cd /tmp && false)") {
		t.Errorf("got %v", err)
	}
}

func TestTailBoundsOutput(t *testing.T) {
	long := strings.Repeat("x", maxOutput*2) + "END"
	got := tail(long)
	if len(got) > maxOutput+len("…") || !strings.HasSuffix(got, "END") {
		t.Errorf("tail kept %d bytes, suffix ok=%v", len(got), strings.HasSuffix(got, "END"))
	}
}

// A cancelled command takes its grandchildren with it: the shell's
// background sleep holds the output pipe and would otherwise outlive Run.
func TestCancelKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		for {
			if data, err := os.ReadFile(pidFile); err == nil && len(data) > 0 && data[len(data)-1] == '\n' {
				close(started)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		errc <- Command("sh", "-c", "sleep 300 & echo $! > "+pidFile+"; wait").Run(ctx)
	}()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled command returned no error")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	// SIGKILL is delivered asynchronously: give the kernel a moment, then
	// the sleep must be gone or a zombie waiting for init.
	state := ""
	for range 200 {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return
		}
		if fields := strings.Fields(string(stat)); len(fields) > 2 {
			if state = fields[2]; state == "Z" || state == "X" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("grandchild %s still running after cancel (state %s)", pid, state)
}
