package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
)

// CacheKeyLabel is the image label holding the digest of the build context.
const CacheKeyLabel = "flts.cache-key"

// PipelineImages are the images the Helm chart deploys, in build order
// (third-party servers first: they take longest cold and change least).
var PipelineImages = []string{"nats", "minio", "tracking", "preprocess", "train", "eval", "inference", "loadgen"}

// Options configures a Builder.
type Options struct {
	// RepoRoot is the module root holding images/.
	RepoRoot string
	// Registry and Tag name the images: <Registry>/<name>:<Tag>.
	Registry string
	Tag      string
	// OutputDir holds the build contexts (default <RepoRoot>/_output/images).
	OutputDir string
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

// Builder builds images from images/<name>.
type Builder struct {
	opts Options
	log  *slog.Logger
}

// New returns a Builder with defaults applied.
func New(opts Options) (*Builder, error) {
	if opts.RepoRoot == "" {
		return nil, errors.New("imagebuild: RepoRoot is required")
	}
	if opts.Registry == "" {
		opts.Registry = "flts.local"
	}
	if opts.Tag == "" {
		opts.Tag = "dev"
	}
	if opts.OutputDir == "" {
		opts.OutputDir = filepath.Join(opts.RepoRoot, "_output", "images")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Builder{opts: opts, log: log}, nil
}

// Ref returns the image reference of name.
func (b *Builder) Ref(name string) string {
	return fmt.Sprintf("%s/%s:%s", b.opts.Registry, name, b.opts.Tag)
}

// BuildAll builds the named images in order and returns their references.
func (b *Builder) BuildAll(ctx context.Context, names ...string) ([]string, error) {
	refs := make([]string, 0, len(names))
	for i, name := range names {
		b.log.Info("image", "step", fmt.Sprintf("%d/%d", i+1, len(names)), "name", name)
		ref, err := b.Build(ctx, name)
		if err != nil {
			return refs, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Build builds one image and returns its reference. It skips `docker build`
// when an image with the same cache key already exists.
func (b *Builder) Build(ctx context.Context, name string) (string, error) {
	start := time.Now()
	srcDir := filepath.Join(b.opts.RepoRoot, "images", name)
	if _, err := os.Stat(filepath.Join(srcDir, "Dockerfile")); err != nil {
		return "", fmt.Errorf("failed to find images/%s/Dockerfile: %w", name, err)
	}
	ctxDir := filepath.Join(b.opts.OutputDir, name)
	if err := os.RemoveAll(ctxDir); err != nil {
		return "", fmt.Errorf("failed to clean build context %s: %w", ctxDir, err)
	}
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create build context %s: %w", ctxDir, err)
	}
	if err := b.buildBinary(ctx, name, srcDir, ctxDir); err != nil {
		return "", err
	}
	if err := copyFile(filepath.Join(srcDir, "Dockerfile"), filepath.Join(ctxDir, "Dockerfile")); err != nil {
		return "", err
	}
	key, err := ContextKey(ctxDir)
	if err != nil {
		return "", err
	}
	ref := b.Ref(name)
	if existing, err := b.imageLabel(ctx, ref); err == nil && existing == key {
		b.log.Info("image up to date", "ref", ref, "elapsed", time.Since(start).Round(time.Millisecond))
		return ref, nil
	}
	if _, err := run(ctx, b.opts.RepoRoot, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q",
		"--label", CacheKeyLabel+"="+key, "-t", ref, ctxDir); err != nil {
		return "", err
	}
	b.log.Info("image built", "ref", ref, "elapsed", time.Since(start).Round(time.Millisecond))
	return ref, nil
}

// buildBinary compiles the image's static binary into ctxDir.
func (b *Builder) buildBinary(ctx context.Context, name, srcDir, ctxDir string) error {
	env := []string{"CGO_ENABLED=0", "GOOS=linux"}
	if data, err := os.ReadFile(filepath.Join(srcDir, "module.txt")); err == nil {
		pkg, err := parseModuleTxt(data)
		if err != nil {
			return fmt.Errorf("images/%s/module.txt: %w", name, err)
		}
		b.log.Info("compiling from module proxy (minutes when cold)", "image", name, "package", pkg)
		// go install pkg@version ignores the current module and builds the
		// server exactly as its own go.mod pins it.
		_, err = run(ctx, b.opts.RepoRoot, append(env, "GOBIN="+ctxDir), "go", "install", "-trimpath", "-ldflags=-s -w", pkg)
		return err
	}
	if _, err := os.Stat(filepath.Join(srcDir, "main.go")); err != nil {
		return fmt.Errorf("images/%s has neither main.go nor module.txt", name)
	}
	b.log.Info("compiling", "image", name)
	_, err := run(ctx, b.opts.RepoRoot, env, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(ctxDir, name), "./images/"+name)
	return err
}

// parseModuleTxt returns the single `package@version` line of a module.txt.
func parseModuleTxt(data []byte) (string, error) {
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		return "", fmt.Errorf("want exactly one package@version line, got %d", len(lines))
	}
	pkg, version, ok := strings.Cut(lines[0], "@")
	if !ok || pkg == "" || version == "" || version == "latest" {
		return "", fmt.Errorf("%q is not a pinned package@version", lines[0])
	}
	return lines[0], nil
}

// BinaryName is the file name `go install` gives the binary of pkg
// (the last path element that is not a major-version suffix).
func BinaryName(pkg string) string {
	pkg, _, _ = strings.Cut(pkg, "@")
	base := path.Base(pkg)
	if len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" {
		base = path.Base(path.Dir(pkg))
	}
	return base
}

// ContextKey digests every file (name, mode and content) under dir.
func ContextKey(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("failed to walk build context %s: %w", dir, err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("failed to stat %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode().Perm())
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("failed to open %s: %w", p, err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("failed to read %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func (b *Builder) imageLabel(ctx context.Context, ref string) (string, error) {
	out, err := run(ctx, b.opts.RepoRoot, nil, "docker", "image", "inspect", "--format",
		fmt.Sprintf("{{index .Config.Labels %q}}", CacheKeyLabel), ref)
	return strings.TrimSpace(out), err
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("failed to write %s: %w", dst, err)
	}
	return nil
}

// run executes a command through execx, whose error carries the command
// line (pasteable) and its output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	return (&execx.Cmd{Name: name, Args: args, Dir: dir, Env: env}).Output(ctx)
}
