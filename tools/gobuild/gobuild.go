// Package gobuild compiles the static Go binaries that go into images, with a
// progress heartbeat: a cold compile of Kubernetes takes minutes on two
// cores, and the user sees packages done of total instead of silence.
package gobuild

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/progress"
)

// StaticEnv builds static Linux binaries that need no libc in the image.
var StaticEnv = []string{"CGO_ENABLED=0", "GOOS=linux"}

// Build is one `go build` or `go install` invocation.
type Build struct {
	// What names the build in progress lines ("kubernetes v1.34.4").
	What string
	// Install runs `go install pkg@version` (outside any module) instead of
	// `go build` in Dir.
	Install bool
	// Dir is the working directory (the module to build in).
	Dir string
	// Env is appended to the environment (StaticEnv, GOBIN, GOFLAGS ...).
	Env []string
	// Flags go between the verb and the packages (-trimpath, -ldflags, -o).
	Flags []string
	// Packages are the import paths (or pkg@version for Install).
	Packages []string
	// Runner runs the go commands; nil is execx.Host.
	Runner execx.Runner
}

// Run compiles b, logging a heartbeat with the packages compiled so far and,
// for `go build`, the total that `go list -deps` counts. It has no deadline
// of its own: ctx is the caller's (Ctrl-C), and cancelling it kills the
// whole compiler process group.
func Run(ctx context.Context, log *slog.Logger, b Build) error {
	step := progress.Start(log, "compile "+b.What, 0)
	run := execx.OrHost(b.Runner)
	total := 0
	if !b.Install {
		// A quick pass over the package graph (it also downloads what is
		// missing); an error here is reported by the build itself.
		list := &execx.Cmd{Name: "go", Args: append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, b.Packages...), Dir: b.Dir, Env: b.Env}
		if out, err := run.Output(ctx, list); err == nil {
			total = len(strings.Fields(out))
		}
	}
	step.Count("packages", total)
	verb := "build"
	if b.Install {
		verb = "install"
	}
	// Every binary built here is stripped (-ldflags -s -w): the DWARF the
	// compiler would generate for each package is thrown away at link
	// time, so it is not generated at all (a cold Kubernetes compile is
	// minutes of CPU).
	args := append([]string{verb, "-v", "-gcflags=all=-dwarf=false"}, b.Flags...)
	cmd := &execx.Cmd{Name: "go", Args: append(args, b.Packages...), Dir: b.Dir, Env: b.Env, Stderr: step.GoPackages()}
	if err := run.Run(ctx, cmd); err != nil {
		step.Stop()
		return fmt.Errorf("failed to compile %s: %w", b.What, err)
	}
	step.Done()
	return nil
}
