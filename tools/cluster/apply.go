package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// fieldManager names this tool in server-side apply.
const fieldManager = "flts-cluster"

// DecodeManifest splits a multi-document YAML manifest into objects.
func DecodeManifest(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("failed to decode manifest document %d: %w", len(objs)+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("manifest document %d lacks kind, apiVersion or metadata.name", len(objs)+1)
		}
		objs = append(objs, u)
	}
}

// ApplyManifest server-side applies every object of a manifest file.
func (c *Cluster) ApplyManifest(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read manifest: %w", err)
	}
	return c.applyManifest(ctx, path, data)
}

// applyManifest server-side applies every object of data, named path in
// errors and logs.
func (c *Cluster) applyManifest(ctx context.Context, path string, data []byte) error {
	objs, err := DecodeManifest(data)
	if err != nil {
		return fmt.Errorf("failed to decode %s: %w", path, err)
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create dynamic client: %w", err)
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("failed to map %s: %w", gvk, err)
		}
		body, err := u.MarshalJSON()
		if err != nil {
			return fmt.Errorf("failed to encode %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == "namespace" {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(mapping.Resource).Namespace(ns)
		}
		force := true
		if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("failed to apply %s %s from %s: %w", u.GetKind(), u.GetName(), filepath.Base(path), err)
		}
	}
	c.log.Info("applied manifest", "file", path, "objects", len(objs))
	return nil
}

func (c *Cluster) deployMetricsServer(ctx context.Context) error {
	return c.ApplyManifest(ctx, filepath.Join(c.repoRoot, MetricsServerManifest))
}
