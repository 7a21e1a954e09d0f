package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestStorageManifestRendersTheImages(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", StorageManifest))
	if err != nil {
		t.Fatal(err)
	}
	imgs := StorageImages{ProvisionerImage: "flts.local/local-path-provisioner:t", HelperImage: "flts.local/local-path-helper:t"}
	out, err := RenderStorageManifest(tmpl, imgs)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKind[o.GetKind()] = o
	}
	sc := byKind["StorageClass"]
	if sc == nil || sc.GetName() != StorageClassName || sc.Object["provisioner"] != StorageProvisioner ||
		sc.GetAnnotations()["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("want the default StorageClass %q of %q, got %v", StorageClassName, StorageProvisioner, sc)
	}
	containers, _, _ := unstructured.NestedSlice(byKind["Deployment"].Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 || containers[0].(map[string]any)["image"] != imgs.ProvisionerImage {
		t.Errorf("provisioner containers %v, want one running %s", containers, imgs.ProvisionerImage)
	}
	helperPod, _, _ := unstructured.NestedString(byKind["ConfigMap"].Object, "data", "helperPod.yaml")
	if !strings.Contains(helperPod, "image: "+imgs.HelperImage) {
		t.Errorf("helper pod template does not run %s:\n%s", imgs.HelperImage, helperPod)
	}
	if strings.Contains(string(out), "{{") {
		t.Error("the rendered manifest still holds template actions")
	}
}

func TestStorageManifestRefusesMissingValues(t *testing.T) {
	if _, err := RenderStorageManifest([]byte("image: {{ .ProvisionerImage }}"), StorageImages{ProvisionerImage: "p"}); err == nil {
		t.Error("rendered with no helper image")
	}
	if _, err := RenderStorageManifest([]byte("image: {{ .Other }}"), StorageImages{ProvisionerImage: "p", HelperImage: "h"}); err == nil {
		t.Error("rendered a template naming an unknown field")
	}
}
