package framework

import (
	"context"
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

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
// whose promotion is this install's. Nothing to do without the namespace.
func ResetNamespace(ctx context.Context, in ResetNamespaceInput) {
	GinkgoHelper()
	err := in.Client.CoreV1().Namespaces().Delete(ctx, in.Namespace, metav1.DeleteOptions{})
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
