package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flts/flts-e2e/pkg/atomicfile"
	"github.com/flts/flts-e2e/tools/execx"
)

// refreshRegisteredWrapper rebuilds the wrapper when daemon.json already
// names it: dockerd would otherwise start with a default runtime whose
// binary may be gone or stale (an earlier checkout's), and fail every
// container with an error that does not say why.
func (e *Engine) refreshRegisteredWrapper(ctx context.Context) error {
	existing, err := os.ReadFile(e.opts.DaemonConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", e.opts.DaemonConfig, err)
	}
	var doc struct {
		Runtimes map[string]json.RawMessage `json:"runtimes"`
	}
	if err := json.Unmarshal(existing, &doc); err != nil {
		return fmt.Errorf("failed to decode %s: %w", e.opts.DaemonConfig, err)
	}
	if _, ok := doc.Runtimes[RuntimeName]; !ok {
		return nil
	}
	e.log.Info("daemon.json names the runtime wrapper; rebuilding it before starting dockerd", "path", e.opts.WrapperPath)
	return e.installWrapper(ctx)
}

func (e *Engine) installWrapper(ctx context.Context) error {
	abs := e.opts.WrapperPath
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(abs), err)
	}
	build := &execx.Cmd{Name: "go", Args: []string{"build", "-trimpath", "-o", abs, "./tools/cmd/flts-runc-wrapper"},
		Dir: e.opts.RepoRoot, Env: []string{"CGO_ENABLED=0"}}
	if err := e.run.Run(ctx, build); err != nil {
		return fmt.Errorf("failed to build the runtime wrapper: %w", err)
	}
	existing, err := os.ReadFile(e.opts.DaemonConfig)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to read %s: %w", e.opts.DaemonConfig, err)
	}
	merged, err := MergeDaemonConfig(existing, RuntimeName, abs)
	if err != nil {
		return fmt.Errorf("failed to merge %s: %w", e.opts.DaemonConfig, err)
	}
	if err := atomicfile.Write(e.opts.DaemonConfig, merged, 0o644); err != nil {
		return err
	}
	e.log.Info("registered runtime wrapper", "config", e.opts.DaemonConfig, "path", abs)
	return nil
}

// MergeDaemonConfig adds a runtime to a daemon.json document and makes it the
// default, keeping every other setting.
func MergeDaemonConfig(existing []byte, name, path string) ([]byte, error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(existing)) > 0 {
		if err := json.Unmarshal(existing, &doc); err != nil {
			return nil, fmt.Errorf("failed to decode daemon config: %w", err)
		}
	}
	runtimes, _ := doc["runtimes"].(map[string]any)
	if runtimes == nil {
		if _, present := doc["runtimes"]; present {
			return nil, fmt.Errorf("daemon config member runtimes is not an object")
		}
		runtimes = map[string]any{}
	}
	runtimes[name] = map[string]any{"path": path}
	doc["runtimes"] = runtimes
	doc["default-runtime"] = name
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode daemon config: %w", err)
	}
	return append(out, '\n'), nil
}
