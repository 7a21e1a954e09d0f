package cilocal

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/freshmachine"
)

// runAction emulates the actions the workflow uses. Anything else fails the
// step with a clear message rather than being skipped.
func (j *job) runAction(ctx context.Context, uses string, with map[string]string) (map[string]string, error) {
	name, _, _ := strings.Cut(uses, "@")
	switch name {
	case "actions/checkout":
		return nil, j.checkout(ctx)
	case "actions/setup-go":
		return nil, j.setupGo(ctx, with)
	case "actions/cache":
		out, err := j.restoreCache(ctx, with)
		if err != nil {
			return nil, err
		}
		if out["cache-hit"] != "true" {
			key, paths := with["key"], with["path"]
			j.posts = append(j.posts, func(ctx context.Context) error {
				return j.saveCache(ctx, key, paths)
			})
		}
		// actions/cache (unlike cache/restore) has cache-hit only, unset
		// on a miss.
		if out["cache-matched-key"] == "" {
			return nil, nil
		}
		return map[string]string{"cache-hit": out["cache-hit"]}, nil
	case "actions/cache/restore":
		return j.restoreCache(ctx, with)
	case "actions/cache/save":
		return nil, j.saveCache(ctx, with["key"], with["path"])
	case "actions/upload-artifact":
		return nil, j.uploadArtifact(ctx, with)
	}
	return nil, fmt.Errorf("action %s is not emulated by this runner", uses)
}

// checkout clones the repository's committed HEAD into the workspace,
// owned by the runner's user (a detached HEAD, as actions/checkout leaves).
// root clones: the runner's user may not read a repository another user
// owns (git's safe.directory).
func (j *job) checkout(ctx context.Context) error {
	if err := freshmachine.Clone(ctx, j.opts.Logger, j.opts.RepoRoot, j.opts.WorkDir); err != nil {
		return err
	}
	// Root works in the user's workspace here: git must be told it is safe.
	if err := execx.Command("git", "-c", "safe.directory="+j.opts.WorkDir, "-C", j.opts.WorkDir, "checkout", "--quiet", "--detach", j.sha).Run(ctx); err != nil {
		return fmt.Errorf("failed to check out %s: %w", j.sha, err)
	}
	return j.opts.User.Chown(j.opts.WorkDir)
}

var goDirective = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// setupGo puts this machine's Go toolchain on the steps' PATH when it is
// the version go-version-file asks for (a runner downloads it; nothing is
// downloaded here). setup-go's own module cache is not emulated: the job
// starts with the user's empty Go caches, as a first run on GitHub.
func (j *job) setupGo(ctx context.Context, with map[string]string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command on this machine to stand in for setup-go: %w", err)
	}
	goroot, err := execx.Command(goBin, "env", "GOROOT").Output(ctx)
	if err != nil {
		return fmt.Errorf("failed to read GOROOT: %w", err)
	}
	version, err := execx.Command(goBin, "env", "GOVERSION").Output(ctx)
	if err != nil {
		return fmt.Errorf("failed to read the Go version: %w", err)
	}
	have := strings.TrimPrefix(strings.TrimSpace(version), "go")
	if file := with["go-version-file"]; file != "" {
		data, err := os.ReadFile(filepath.Join(j.opts.WorkDir, file))
		if err != nil {
			return fmt.Errorf("go-version-file: %w", err)
		}
		m := goDirective.FindSubmatch(data)
		if m == nil {
			return fmt.Errorf("go-version-file %s has no go directive", file)
		}
		if want := string(m[1]); want != have {
			return fmt.Errorf("%s asks for Go %s; this machine has %s (setup-go would download it; nothing is downloaded here)", file, want, have)
		}
	}
	if with["cache"] != "false" {
		j.opts.Logger.Info("setup-go's module cache is not emulated: the job starts with empty Go caches")
	}
	j.path = append([]string{filepath.Join(strings.TrimSpace(goroot), "bin")}, j.path...)
	fmt.Fprintf(j.opts.Out, "Go %s from %s\n", have, strings.TrimSpace(goroot))
	return nil
}

// cacheFile is where the entry for key lives.
func (j *job) cacheFile(key string) string {
	return filepath.Join(j.opts.CacheDir, url.PathEscape(key)+".tar")
}

// workspacePaths resolves a path: input of cache and upload-artifact (one
// per line, relative to the workspace).
func (j *job) workspacePaths(paths string) []string {
	var out []string
	for _, p := range strings.Split(paths, "\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(j.opts.WorkDir, p)
		}
		out = append(out, p)
	}
	return out
}

// restoreCache restores the entry of the exact key, else the newest entry
// whose key starts with one of the restore-keys (in their order), as the
// runner's user. Outputs as actions/cache's.
func (j *job) restoreCache(ctx context.Context, with map[string]string) (map[string]string, error) {
	key := with["key"]
	if key == "" {
		return nil, fmt.Errorf("cache: no key")
	}
	out := map[string]string{"cache-primary-key": key, "cache-hit": "false", "cache-matched-key": ""}
	matched := ""
	if _, err := os.Stat(j.cacheFile(key)); err == nil {
		matched = key
	} else {
		// The primary key is tried as a prefix too, before the restore keys.
		for _, prefix := range append([]string{key}, strings.Split(with["restore-keys"], "\n")...) {
			if prefix = strings.TrimSpace(prefix); prefix == "" {
				continue
			}
			if matched = j.newestWithPrefix(prefix); matched != "" {
				break
			}
		}
	}
	if matched == "" {
		fmt.Fprintf(j.opts.Out, "Cache not found for input keys: %s\n", key)
		return out, nil
	}
	fmt.Fprintf(j.opts.Out, "Restoring cache %s\n", matched)
	if err := j.runAsUser(ctx, "", nil, "tar", "-xPf", j.cacheFile(matched), "-C", j.opts.WorkDir); err != nil {
		return nil, fmt.Errorf("failed to restore cache %s: %w", matched, err)
	}
	out["cache-matched-key"] = matched
	out["cache-hit"] = fmt.Sprint(matched == key)
	return out, nil
}

func (j *job) newestWithPrefix(prefix string) string {
	entries, err := os.ReadDir(j.opts.CacheDir)
	if err != nil {
		return ""
	}
	type entry struct {
		key  string
		nano int64
	}
	var found []entry
	for _, e := range entries {
		key, err := url.PathUnescape(strings.TrimSuffix(e.Name(), ".tar"))
		if err != nil || !strings.HasSuffix(e.Name(), ".tar") || !strings.HasPrefix(key, prefix) {
			continue
		}
		if info, err := e.Info(); err == nil {
			found = append(found, entry{key, info.ModTime().UnixNano()})
		}
	}
	sort.Slice(found, func(a, b int) bool { return found[a].nano > found[b].nano })
	if len(found) == 0 {
		return ""
	}
	return found[0].key
}

// saveCache stores the paths under key as the runner's user; like GitHub
// it never overwrites an existing entry.
func (j *job) saveCache(ctx context.Context, key, paths string) error {
	if key == "" {
		return fmt.Errorf("cache: no key")
	}
	dest := j.cacheFile(key)
	if _, err := os.Stat(dest); err == nil {
		fmt.Fprintf(j.opts.Out, "Cache %s already exists; not saved\n", key)
		return nil
	}
	var rel []string
	for _, p := range j.workspacePaths(paths) {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(j.opts.Out, "Cache path %s does not exist; skipped\n", p)
			continue
		}
		// Relative to the workspace, as actions/cache stores them, so a
		// later run's workspace gets them back wherever it is.
		r, err := filepath.Rel(j.opts.WorkDir, p)
		if err != nil {
			return fmt.Errorf("cache path %s: %w", p, err)
		}
		rel = append(rel, r)
	}
	if len(rel) == 0 {
		fmt.Fprintf(j.opts.Out, "No cache paths exist; cache %s not saved\n", key)
		return nil
	}
	tmp := dest + ".partial"
	if err := j.runAsUser(ctx, "", nil, append([]string{"tar", "-cPf", tmp, "-C", j.opts.WorkDir}, rel...)...); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to save cache %s: %w", key, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("failed to save cache %s: %w", key, err)
	}
	if info, err := os.Stat(dest); err == nil {
		fmt.Fprintf(j.opts.Out, "Cache saved: %s (%d MiB)\n", key, info.Size()>>20)
	}
	return nil
}

// uploadArtifact copies the path into the artifacts directory under the
// artifact's name.
func (j *job) uploadArtifact(ctx context.Context, with map[string]string) error {
	name := with["name"]
	if name == "" {
		name = "artifact"
	}
	dest := filepath.Join(j.opts.ArtifactsDir, name)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dest, err)
	}
	if err := j.opts.User.Chown(dest); err != nil {
		return err
	}
	copied := 0
	for _, p := range j.workspacePaths(with["path"]) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		// As the runner's user, as on GitHub: a file root wrote and kept
		// to itself fails the upload there too.
		if err := j.runAsUser(ctx, "", nil, "cp", "-a", strings.TrimSuffix(p, "/")+"/.", dest); err != nil {
			return fmt.Errorf("failed to upload %s: %w", p, err)
		}
		copied++
	}
	// upload-artifact v4 leaves hidden files out unless include-hidden-files.
	if with["include-hidden-files"] != "true" {
		if err := removeHidden(dest); err != nil {
			return err
		}
	}
	if copied == 0 {
		msg := fmt.Sprintf("no files found at %s", with["path"])
		if with["if-no-files-found"] == "error" {
			return fmt.Errorf("upload-artifact: %s", msg)
		}
		fmt.Fprintf(j.opts.Out, "Warning: %s; nothing uploaded\n", msg)
		return nil
	}
	fmt.Fprintf(j.opts.Out, "Artifact %s: %s\n", name, dest)
	return nil
}

// removeHidden deletes the files and directories under dir whose name
// starts with a dot.
func removeHidden(dir string) error {
	var hidden []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			hidden = append(hidden, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to list the artifact's files: %w", err)
	}
	for _, p := range hidden {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("failed to leave out hidden %s: %w", p, err)
		}
	}
	return nil
}
