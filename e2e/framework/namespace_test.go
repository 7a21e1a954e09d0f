package framework

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestCreateNamespaceMarksItAndRefusesSomeoneElses(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}})

	if err := CreateNamespace(ctx, client, "flts"); err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, "flts", metav1.GetOptions{})
	if err != nil || ns.Labels[ManagedByLabel] != ManagedByValue {
		t.Fatalf("created namespace lacks the suite's label: %v, %v", ns, err)
	}
	// A second run on a reused cluster finds its own namespace.
	if err := CreateNamespace(ctx, client, "flts"); err != nil {
		t.Errorf("the suite's own namespace refused: %v", err)
	}
	err = CreateNamespace(ctx, client, "theirs")
	if err == nil || !strings.Contains(err.Error(), "E2E_NAMESPACE") {
		t.Errorf("a namespace the suite did not create: got %v, want a refusal naming E2E_NAMESPACE", err)
	}
	if err := checkOwned(ctx, client, "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("a missing namespace: got %v, want a wrapped NotFound", err)
	}
}
