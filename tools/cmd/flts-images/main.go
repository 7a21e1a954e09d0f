// Command flts-images builds the pipeline's container images from images/.
//
//	go run ./tools/cmd/flts-images [--tag e2e] [--registry flts.local] [name ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flts/flts-e2e/tools/imagebuild"
)

func main() {
	fs := flag.NewFlagSet("flts-images", flag.ContinueOnError)
	tag := fs.String("tag", envOr("IMAGE_TAG", "e2e"), "image tag (env IMAGE_TAG)")
	registry := fs.String("registry", envOr("IMAGE_REGISTRY", "flts.local"), "image registry prefix (env IMAGE_REGISTRY)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: flts-images [flags] [image ...]\n\nBuilds images/<name> for each name (default: %v).\n\n", imagebuild.PipelineImages)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	names := fs.Args()
	if len(names) == 0 {
		names = imagebuild.PipelineImages
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flts-images:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := imagebuild.New(imagebuild.Options{RepoRoot: root, Registry: *registry, Tag: *tag, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "flts-images:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	refs, err := b.BuildAll(ctx, names...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flts-images:", err)
		os.Exit(1)
	}
	for _, r := range refs {
		fmt.Println(r)
	}
	log.Info("all images ready", "count", len(refs), "elapsed", time.Since(start).Round(time.Second))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
