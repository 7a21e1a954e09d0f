package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/tools/imagebuild"
)

const (
	// StorageManifest is the template of the default StorageClass and its
	// provisioner, relative to the repository root.
	StorageManifest = "fixtures/local-path-storage/local-path-storage.yaml"
	// StorageClassName is the default StorageClass, named as kind names it.
	StorageClassName = "standard"
	// StorageProvisioner is the provisioner serving StorageClassName.
	StorageProvisioner = "rancher.io/local-path"
	// storageNamespace holds the provisioner (and its helper pods).
	storageNamespace = "local-path-storage"
	storageTimeout   = 3 * time.Minute
)

// StorageImages are the images the default StorageClass runs, built by
// `make images` (tools/imagebuild) like the pipeline's.
type StorageImages struct {
	ProvisionerImage string
	HelperImage      string
}

// storageImages finds the storage images, built before any cluster step
// like the node image (a cold build must not run under Up's deadline).
func storageImages(ctx context.Context, opts Options) (StorageImages, error) {
	b, err := imagebuild.New(imagebuild.Options{RepoRoot: opts.RepoRoot, Tag: opts.ImageTag, Logger: opts.Logger})
	if err != nil {
		return StorageImages{}, err
	}
	refs, err := b.Present(ctx, imagebuild.StorageImages...)
	if err != nil {
		return StorageImages{}, err
	}
	return StorageImages{ProvisionerImage: refs[0], HelperImage: refs[1]}, nil
}

// RenderStorageManifest fills the storage template with the images; an
// unknown field in the template is an error, never an empty image.
func RenderStorageManifest(tmpl []byte, imgs StorageImages) ([]byte, error) {
	if imgs.ProvisionerImage == "" || imgs.HelperImage == "" {
		return nil, fmt.Errorf("storage images not set: %+v", imgs)
	}
	t, err := template.New(filepath.Base(StorageManifest)).Option("missingkey=error").Parse(string(tmpl))
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", StorageManifest, err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, imgs); err != nil {
		return nil, fmt.Errorf("failed to render %s: %w", StorageManifest, err)
	}
	return out.Bytes(), nil
}

// installStorage gives the cluster the default StorageClass kind ships
// (kind installs it from the node image's /kind/manifests when present;
// ours carries none, so kind fell back to an in-tree host-path class):
// the images are loaded, kind's fallback class is replaced (a class's
// provisioner cannot be changed in place), the provisioner applied, and
// its Deployment waited for.
func (c *Cluster) installStorage(ctx context.Context, imgs StorageImages) error {
	tmpl, err := os.ReadFile(filepath.Join(c.repoRoot, StorageManifest))
	if err != nil {
		return fmt.Errorf("failed to read the storage manifest: %w", err)
	}
	manifest, err := RenderStorageManifest(tmpl, imgs)
	if err != nil {
		return err
	}
	done := stage(c.log, "default StorageClass")
	defer done.Stop()
	if err := c.LoadImages(ctx, imgs.ProvisionerImage, imgs.HelperImage); err != nil {
		return err
	}
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	sc, err := cs.StorageV1().StorageClasses().Get(ctx, StorageClassName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("failed to read StorageClass %s: %w", StorageClassName, err)
	case sc.Provisioner != StorageProvisioner:
		if err := cs.StorageV1().StorageClasses().Delete(ctx, StorageClassName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to replace kind's %s StorageClass (provisioner %s): %w", StorageClassName, sc.Provisioner, err)
		}
	}
	if err := c.applyManifest(ctx, StorageManifest, manifest); err != nil {
		return err
	}
	err = poll(ctx, storageTimeout, "the volume provisioner", func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments(storageNamespace).Get(ctx, "local-path-provisioner", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		// The current template's pod, not the one a reused cluster ran
		// before this apply.
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < 1 || d.Status.ReadyReplicas < 1 ||
			d.Status.Replicas > d.Status.UpdatedReplicas {
			return false, fmt.Sprintf("local-path-provisioner rolling out: %d updated, %d ready of %d", d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.Replicas), nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	done.Done()
	return nil
}
