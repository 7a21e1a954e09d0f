// Package atomicfile writes files so that a reader sees the old content or
// the new, never half of either: the data goes to a synced temporary file
// that is then renamed over the target. The object store's directory
// implementation, the report, and the tools that edit the engine's
// configuration all write this way.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data and mode perm, creating path's directory
// if needed. The temporary file sits next to path, hidden (".tmp-*").
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	return WriteVia(dir, path, data, perm)
}

// WriteVia is Write with the temporary file in tmpDir, which must be on
// path's file system (a rename cannot cross file systems); a store uses it
// to keep half-written files out of the tree it lists.
func WriteVia(tmpDir, path string, data []byte, perm fs.FileMode) (err error) {
	// A short fixed prefix: the target's own name may already be as long
	// as the file system allows.
	tmp, err := os.CreateTemp(tmpDir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file for %s: %w", path, err)
	}
	// After a successful rename the name is gone and Remove is a no-op.
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600 whatever the umask: set the mode asked for.
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return fmt.Errorf("failed to set the mode of %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to replace %s: %w", path, err)
	}
	return nil
}
