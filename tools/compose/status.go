package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flts/flts-e2e/pkg/atomicfile"
	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/progress"
)

// docker returns a docker CLI command.
func (s *Stack) docker(args ...string) *execx.Cmd {
	return &execx.Cmd{Name: "docker", Args: args, Dir: s.opts.RepoRoot}
}

// psEntry is the part of `compose ps --format json` the progress lines use.
type psEntry struct {
	Service  string
	State    string // created, running, exited, restarting ...
	Health   string // starting, healthy, unhealthy, "" without a check
	ExitCode int
}

// parsePS reads `compose ps --format json`: one object per line in the
// Compose CLI built here, a JSON array in older ones.
func parsePS(out string) ([]psEntry, error) {
	out = strings.TrimSpace(out)
	var entries []psEntry
	if strings.HasPrefix(out, "[") {
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			return nil, fmt.Errorf("failed to decode compose ps: %w", err)
		}
		return entries, nil
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e psEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("failed to decode compose ps: %w", err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// states renders the services' states for a progress line, sorted:
// "eval=healthy inference=starting preprocess=exited(0) ...".
func states(entries []psEntry) string {
	parts := make([]string, 0, len(entries))
	for _, e := range entries {
		st := e.State
		switch {
		case e.State == "running" && e.Health != "":
			st = e.Health
		case e.State == "exited":
			st = fmt.Sprintf("exited(%d)", e.ExitCode)
		}
		parts = append(parts, e.Service+"="+st)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no container yet"
	}
	return strings.Join(parts, " ")
}

// watch logs the services' states every progress.Interval until the
// returned stop is called: `up --wait` itself prints only changes, and a
// training may change nothing for minutes.
func (s *Stack) watch(ctx context.Context, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progress.Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				out, err := s.run.Output(ctx, s.compose(nil, "ps", "--all", "--format", "json"))
				entries, perr := parsePS(out)
				if err = errors.Join(err, perr); err != nil {
					s.log.Info("compose up: waiting", "elapsed", time.Since(start).Round(time.Second), "states", "unknown: "+firstLine(err.Error()))
					continue
				}
				s.log.Info("compose up: waiting", "elapsed", time.Since(start).Round(time.Second), "states", states(entries))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// saveDiagnostics writes what explains a failed step into
// Artifacts/compose: every service's log, the containers' states and the
// health checks' last answers. It runs after a cancellation too (its own
// deadline); credentials never appear (no inspect of the environment).
func (s *Stack) saveDiagnostics(ctx context.Context, step string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosticsTimeout)
	defer cancel()
	dir := filepath.Join(s.opts.Artifacts, diagnosticsDir)
	var errs []error
	save := func(name, content string, err error) {
		if err != nil {
			content += "\n" + err.Error()
		}
		if werr := atomicfile.Write(filepath.Join(dir, step+"-"+name), []byte(content), 0o644); werr != nil {
			errs = append(errs, werr)
		}
	}
	out, err := s.run.Output(ctx, s.compose(nil, "logs", "--no-color", "--timestamps"))
	save("logs.txt", out, err)
	out, err = s.run.Output(ctx, s.compose(nil, "ps", "--all"))
	save("ps.txt", out, err)
	ids, err := s.labelled(ctx, "ps", "--all", "--quiet")
	if err == nil && len(ids) > 0 {
		out, err = s.run.Output(ctx, s.docker(append([]string{"inspect", "--format",
			"{{.Name}} {{.State.Status}} exit={{.State.ExitCode}}{{if .State.Health}} health={{.State.Health.Status}} {{json .State.Health.Log}}{{end}}"},
			ids...)...))
	}
	save("health.txt", out, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("failed to save the stack's diagnostics: %w", err)
	}
	s.log.Info("compose: diagnostics saved", "dir", dir, "files", step+"-{logs,ps,health}.txt")
	return nil
}

// diagnosticsPath is where saveDiagnostics puts a step's logs, for error
// messages.
func (s *Stack) diagnosticsPath(step string) string {
	return filepath.Join(s.opts.Artifacts, diagnosticsDir, step+"-logs.txt")
}
