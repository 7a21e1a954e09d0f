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
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flts/flts-e2e/tools/execx"
	"github.com/flts/flts-e2e/tools/gobuild"
	"github.com/flts/flts-e2e/tools/progress"
)

// CacheKeyLabel is the image label holding the digest of the image's inputs.
const CacheKeyLabel = "flts.cache-key"

// PipelineImages are the images the Helm chart deploys, in build order
// (third-party servers first: they take longest cold and change least).
var PipelineImages = []string{"nats", "minio", "prometheus", "tracking", "preprocess", "train", "eval", "inference", "hpa-exporter", "loadgen"}

// StorageImages run the kind cluster's default StorageClass (tools/cluster
// installs them): the provisioner, then its helper.
var StorageImages = []string{"local-path-provisioner", "local-path-helper"}

// SuiteImages are what the suite needs built besides the node image: the
// pipeline, the cluster's storage and the cluster check's prober
// (metrics-server is built with the node image, see tools/nodeimage).
var SuiteImages = slices.Concat(PipelineImages, StorageImages, []string{"prober"})

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

// Build builds one image and returns its reference. An image whose
// InputKey label matches is up to date and nothing is compiled: a warm run,
// or a run from a bundle, skips every compile.
func (b *Builder) Build(ctx context.Context, name string) (string, error) {
	start := time.Now()
	srcDir := filepath.Join(b.opts.RepoRoot, "images", name)
	if _, err := os.Stat(filepath.Join(srcDir, "Dockerfile")); err != nil {
		return "", fmt.Errorf("failed to find images/%s/Dockerfile: %w", name, err)
	}
	key, err := InputKey(b.opts.RepoRoot, name)
	if err != nil {
		return "", err
	}
	ref := b.Ref(name)
	if existing, err := b.imageLabel(ctx, ref); err == nil && existing == key {
		b.log.Info("image up to date", "ref", ref, "elapsed", time.Since(start).Round(time.Millisecond))
		return ref, nil
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
	if err := copyContext(srcDir, ctxDir); err != nil {
		return "", err
	}
	if _, err := run(ctx, b.opts.RepoRoot, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q",
		"--label", CacheKeyLabel+"="+key, "-t", ref, ctxDir); err != nil {
		return "", err
	}
	b.log.Info("image built", "ref", ref, "elapsed", time.Since(start).Round(time.Millisecond))
	return ref, nil
}

// Present returns the references of names, or an error naming the command
// that builds them when one is missing or was built from other inputs. The
// suite checks with it and never builds.
func (b *Builder) Present(ctx context.Context, names ...string) ([]string, error) {
	refs := make([]string, 0, len(names))
	var missing, stale []string
	for _, name := range names {
		ref := b.Ref(name)
		refs = append(refs, ref)
		key, err := InputKey(b.opts.RepoRoot, name)
		if err != nil {
			return refs, err
		}
		switch have, err := b.imageLabel(ctx, ref); {
		case err != nil:
			missing = append(missing, ref)
		case have != key:
			stale = append(stale, ref)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing: "+strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		problems = append(problems, "built from other sources: "+strings.Join(stale, ", "))
	}
	if len(problems) > 0 {
		return refs, fmt.Errorf("images not ready (%s); build them with `make images` (make e2e does)", strings.Join(problems, "; "))
	}
	return refs, nil
}

// buildBinary compiles the image's static binary into ctxDir.
func (b *Builder) buildBinary(ctx context.Context, name, srcDir, ctxDir string) error {
	if data, err := os.ReadFile(filepath.Join(srcDir, "module.txt")); err == nil {
		pkg, err := parseModuleTxt(data)
		if err != nil {
			return fmt.Errorf("images/%s/module.txt: %w", name, err)
		}
		// go install pkg@version ignores the current module and builds the
		// server exactly as its own go.mod pins it.
		return gobuild.Run(ctx, b.log, gobuild.Build{
			What: "image " + name + " (" + pkg + ")", Install: true, Dir: b.opts.RepoRoot,
			Env: append([]string{"GOBIN=" + ctxDir}, gobuild.StaticEnv...), Flags: []string{"-trimpath", "-ldflags=-s -w"},
			Packages: []string{pkg},
		})
	}
	if _, err := os.Stat(filepath.Join(srcDir, "main.go")); err != nil {
		return fmt.Errorf("images/%s has neither main.go nor module.txt", name)
	}
	return gobuild.Run(ctx, b.log, gobuild.Build{
		What: "image " + name, Dir: b.opts.RepoRoot, Env: gobuild.StaticEnv,
		Flags: []string{"-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, name)}, Packages: []string{"./images/" + name},
	})
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

// InputKey digests what images/<name> is built from, so an up-to-date image
// is recognised without compiling: the image folder (Dockerfile, main.go or
// module.txt), the Go toolchain, and for an image of this module go.mod,
// go.sum and every non-test Go file under pkg/ (a superset of its imports).
func InputKey(repoRoot, name string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "go\x00%s\x00%s\x00%s\x00", runtime.Version(), runtime.GOARCH, os.Getenv("GOFLAGS"))
	// The image's folder and how images are compiled (this package and
	// tools/gobuild: flags and environment).
	dirs := []string{filepath.Join("images", name), filepath.Join("tools", "imagebuild"), filepath.Join("tools", "gobuild")}
	if _, err := os.Stat(filepath.Join(repoRoot, "images", name, "module.txt")); err != nil {
		dirs = append(dirs, "go.mod", "go.sum", "pkg")
	}
	for _, d := range dirs {
		if err := digestTree(h, repoRoot, d); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// digestTree adds every regular file under root/rel (name, mode, content)
// in lexical order, skipping tests and testdata.
func digestTree(h io.Writer, root, rel string) error {
	return filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("failed to read %s for the image key: %w", p, err)
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, "_test.go") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("failed to read %s for the image key: %w", p, err)
		}
		name, _ := filepath.Rel(root, p)
		// Only the executable bit counts, as in git: the rest follows the
		// umask of whoever checked the files out.
		fmt.Fprintf(h, "%s\x00%t\x00%d\x00", filepath.ToSlash(name), info.Mode()&0o111 != 0, len(data))
		_, err = h.Write(data)
		return err
	})
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

// copyContext copies the image folder's Dockerfile and data files (a
// server's default configuration) into the build context; the Go sources
// and module.txt are compiled, not copied.
func copyContext(srcDir, ctxDir string) error {
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", srcDir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".go") || e.Name() == "module.txt" {
			continue
		}
		if err := copyFile(filepath.Join(srcDir, e.Name()), filepath.Join(ctxDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// run executes a command through execx, whose error carries the command
// line (pasteable) and its output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	return (&execx.Cmd{Name: name, Args: args, Dir: dir, Env: env}).Output(ctx)
}

// Push copies the named images, built here, to registry (<registry>/<name>:<tag>)
// through the Docker engine, for a cluster whose nodes pull from it; it
// returns the pushed references. A push of unchanged layers only checks
// them.
func (b *Builder) Push(ctx context.Context, registry string, names ...string) ([]string, error) {
	step := progress.Start(b.log, "push images to "+registry, 0)
	defer step.Stop()
	step.Count("images", len(names))
	refs := make([]string, 0, len(names))
	for _, name := range names {
		dst := fmt.Sprintf("%s/%s:%s", registry, name, b.opts.Tag)
		if _, err := run(ctx, b.opts.RepoRoot, nil, "docker", "tag", b.Ref(name), dst); err != nil {
			return refs, err
		}
		if _, err := run(ctx, b.opts.RepoRoot, nil, "docker", "push", "--quiet", dst); err != nil {
			return refs, fmt.Errorf("failed to push %s (does this Docker engine reach %s, and trust it if it is plain HTTP?): %w", dst, registry, err)
		}
		refs = append(refs, dst)
		step.Add(1)
	}
	step.Done()
	return refs, nil
}
