package framework

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The label the suite puts on the namespace it creates. It deletes only a
// namespace carrying it (a previous run's, on a reused cluster), never one
// it did not create.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "flts-e2e"
)

// CreateNamespace creates the release's namespace with the suite's label.
// An existing namespace is accepted only with that label: installing into a
// namespace someone else made would let the teardown or the next reset
// delete their objects.
func CreateNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedByValue}}}
	_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return checkOwned(ctx, client, name)
	}
	if err != nil {
		return fmt.Errorf("failed to create namespace %s: %w", name, err)
	}
	return nil
}

// Owned reports whether the namespace exists and carries the suite's label.
func Owned(ctx context.Context, client kubernetes.Interface, name string) bool {
	return checkOwned(ctx, client, name) == nil
}

// checkOwned fails unless the namespace carries the suite's label.
func checkOwned(ctx context.Context, client kubernetes.Interface, name string) error {
	got, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("failed to read namespace %s: %w", name, err)
	}
	if got.Labels[ManagedByLabel] != ManagedByValue {
		return fmt.Errorf("namespace %s exists and was not created by this suite (no label %s=%s): "+
			"set E2E_NAMESPACE to another name, or delete it yourself if it is a leftover", name, ManagedByLabel, ManagedByValue)
	}
	return nil
}

// ResetNamespaceInput configures ResetNamespace.
type ResetNamespaceInput struct {
	Client    kubernetes.Interface
	Namespace string
	Timeout   time.Duration
	Poll      time.Duration
	Logger    *slog.Logger
}

// ResetNamespace deletes the namespace (the release, its records, its
// claims and data) and waits until it is gone. A reused cluster then gets a
// fresh install: pods that run the images just loaded (an upgrade with an
// unchanged pod template and a fixed tag restarts nothing) and a pipeline
// whose promotion is this install's. Nothing to do without the namespace;
// one without the suite's label fails the set-up instead of being deleted.
func ResetNamespace(ctx context.Context, in ResetNamespaceInput) {
	GinkgoHelper()
	err := checkOwned(ctx, in.Client, in.Namespace)
	if apierrors.IsNotFound(err) {
		return
	}
	Expect(err).NotTo(HaveOccurred(), "not deleting namespace %s", in.Namespace)
	err = in.Client.CoreV1().Namespaces().Delete(ctx, in.Namespace, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	Expect(err).NotTo(HaveOccurred(), "deleting namespace %s", in.Namespace)
	start, lastLog := time.Now(), time.Now()
	in.Logger.Info("deleting the previous install's namespace", "namespace", in.Namespace)
	Eventually(func(g Gomega) {
		_, err := in.Client.CoreV1().Namespaces().Get(ctx, in.Namespace, metav1.GetOptions{})
		if time.Since(lastLog) >= 20*time.Second {
			in.Logger.Info("namespace still terminating", "namespace", in.Namespace, "elapsed", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "namespace %s still there (get: %v)", in.Namespace, err)
	}).WithContext(ctx).WithTimeout(in.Timeout).WithPolling(in.Poll).Should(Succeed())
	in.Logger.Info("namespace deleted", "namespace", in.Namespace, "elapsed", time.Since(start).Round(time.Second))
}

// DefaultStorageClassAnnotation marks the StorageClass of claims that name none.
const DefaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// DefaultStorageClass returns the name of the cluster's default
// StorageClass, "" when there is none.
func DefaultStorageClass(ctx context.Context, client kubernetes.Interface) (string, error) {
	scs, err := client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to list StorageClasses: %w", err)
	}
	for _, sc := range scs.Items {
		if sc.Annotations[DefaultStorageClassAnnotation] == "true" {
			return sc.Name, nil
		}
	}
	return "", nil
}
