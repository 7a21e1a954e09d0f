//go:build clusterintegration

package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/loadtest"
	"github.com/flts/flts-e2e/tools/imagebuild"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// diagnosticsGrace is kept from `go test -timeout` so that, when the check
// runs out of time, its own context ends first and the cluster's logs are
// still exported before the test binary is killed.
const diagnosticsGrace = 2 * time.Minute

// TestClusterIntegration needs a machine able to run kind, with the node,
// metrics-server and prober images already built (`make e2e` builds them
// first; nothing is compiled under this test's deadline). It creates a
// fresh cluster (deleting a leftover of the same name), or with
// E2E_REUSE_CLUSTER=1 reuses a healthy one, and leaves the cluster to the
// Ginkgo suite. Its one overall bound is `go test -timeout`; each wait has
// the budget of what it waits for.
func TestClusterIntegration(t *testing.T) {
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-diagnosticsGrace))
		defer cancel()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	// The suite's own configuration reading: the same variables, the same
	// strict rules (E2E_REUSE_CLUSTER=true reuses here as in the suite).
	cfg, err := framework.ConfigFromEnv(root)
	if err != nil {
		t.Fatal(err)
	}
	images, err := imagebuild.New(imagebuild.Options{RepoRoot: root, Tag: cfg.ImageTag, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	probers, err := images.Present(ctx, "prober")
	if err != nil {
		t.Fatal(err)
	}
	proberImage := probers[0]
	artifacts := cfg.ArtifactsDir
	exportLogs := func(c *Cluster) {
		dir := filepath.Join(artifacts, "cluster-integration-logs")
		if err := c.ExportLogs(context.Background(), dir); err != nil {
			t.Logf("export logs: %v", err)
		} else {
			t.Logf("cluster logs in %s", dir)
		}
	}
	name := cfg.ClusterName
	// A cluster that was created but never became usable still has logs
	// to tell why: Up saves them before deleting it.
	c, err := Up(ctx, Options{Name: name, Reuse: cfg.ReuseCluster, NodeImage: cfg.NodeImage,
		K8sVersion: cfg.K8sVersion, ImageTag: cfg.ImageTag, RepoRoot: root, Logger: log,
		DiagnosticsDir: filepath.Join(artifacts, "cluster-integration-logs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			exportLogs(c)
		}
	})
	cs, err := c.clientset()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("node Ready", func(t *testing.T) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 1 || !nodeReady(&nodes.Items[0]) {
			t.Fatalf("want one Ready node, got %d", len(nodes.Items))
		}
	})

	if err := c.LoadImages(ctx, proberImage); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("flts-cluster-it-%d", time.Now().Unix())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespace(t, cs, ns) })

	t.Run("kubernetes.default resolves from a pod", func(t *testing.T) {
		out := runPod(ctx, t, cs, ns, "resolve", corev1.PodSpec{Containers: []corev1.Container{{
			Name: "resolve", Image: proberImage, ImagePullPolicy: corev1.PullNever,
			Args: []string{"resolve", "kubernetes.default"},
		}}})
		svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, svc.Spec.ClusterIP) {
			t.Errorf("kubernetes.default resolved to %q, want %s", out, svc.Spec.ClusterIP)
		}
	})

	t.Run("the default StorageClass provisions a volume that outlives its pod", func(t *testing.T) {
		checkStorage(ctx, t, cs, ns, proberImage)
	})

	t.Run("NodePort 30080 answers from both pods", func(t *testing.T) {
		deployEcho(ctx, t, cs, ns, proberImage)
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			t.Fatal(err)
		}
		// Ready pods are not yet endpoints everywhere: kube-proxy programs
		// each one after its EndpointSlice update reaches it (60 requests
		// sent at once all met the first pod, seen 2026-11-28). So each
		// poll sends a burst, until every pod answered or the budget ends.
		seen := map[string]int{}
		client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		err = poll(ctx, time.Minute, "both echo pods answering on 127.0.0.1:30080", func(ctx context.Context) (bool, string, error) {
			for range 20 {
				resp, err := client.Get("http://127.0.0.1:30080/")
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					seen[strings.TrimSpace(string(body))]++
				}
			}
			for _, p := range pods.Items {
				if seen[p.Name] == 0 {
					return false, fmt.Sprintf("pod %s never answered; answers: %v", p.Name, seen), nil
				}
			}
			return true, "", nil
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("metrics API returns CPU for the pods", func(t *testing.T) {
		err := poll(ctx, 3*time.Minute, "pod metrics", func(ctx context.Context) (bool, string, error) {
			// The suite's own reader of the metrics API (e2e/framework/loadtest): an
			// error (no figures yet, or a pod without usage) means poll again.
			usage, err := loadtest.PodCPU(ctx, cs, ns, "app=echo")
			if err != nil {
				return false, err.Error(), nil
			}
			withCPU := len(usage)
			if withCPU < 2 {
				return false, fmt.Sprintf("%d of 2 pods have CPU metrics", withCPU), nil
			}
			return true, "", nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// checkStorage writes a token into a claim of the default StorageClass from
// one pod, reads it back from another, then deletes the claim and waits for
// its volume to go: provisioning, binding, persistence across pods and the
// helper's clean-up all work.
func checkStorage(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns, proberImage string) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := fmt.Sprintf("written-%d", time.Now().UnixNano())
	podWith := func(args ...string) corev1.PodSpec {
		return corev1.PodSpec{
			// Not root: the volume must be writable by the unprivileged
			// users the pipeline's pods run as.
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(65532)), RunAsGroup: ptr.To(int64(65532))},
			Containers: []corev1.Container{{Name: "prober", Image: proberImage, ImagePullPolicy: corev1.PullNever, Args: args,
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		}
	}
	runPod(ctx, t, cs, ns, "writer", podWith("write", "/data/token", token))
	if out := runPod(ctx, t, cs, ns, "reader", podWith("read", "/data/token")); strings.TrimSpace(out) != token {
		t.Fatalf("a second pod read %q from the volume, want %q", out, token)
	}
	bound, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, bound.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim bound to %q: %v", bound.Spec.VolumeName, err)
	}
	if pv.Spec.StorageClassName != StorageClassName || pv.Annotations["pv.kubernetes.io/provisioned-by"] != StorageProvisioner {
		t.Errorf("volume %s: class %q provisioned by %q, want %q by %q", pv.Name, pv.Spec.StorageClassName,
			pv.Annotations["pv.kubernetes.io/provisioned-by"], StorageClassName, StorageProvisioner)
	}
	for _, name := range []string{"writer", "reader"} {
		if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Reclaim policy Delete: the volume goes once the helper removed its
	// directory; a failed clean-up leaves it Released or Failed.
	err = poll(ctx, 2*time.Minute, "volume "+pv.Name+" deletion", func(ctx context.Context) (bool, string, error) {
		got, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		return false, "phase " + string(got.Status.Phase), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runPod runs a pod to completion and returns its logs; a failed pod fails
// the test with them.
func runPod(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns, name string, spec corev1.PodSpec) string {
	t.Helper()
	spec.RestartPolicy = corev1.RestartPolicyNever
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := poll(ctx, 2*time.Minute, "pod "+name+" to finish", func(ctx context.Context) (bool, string, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return true, "", nil
		case corev1.PodFailed:
			return false, "", fmt.Errorf("pod %s failed: %s", name, podLogs(ctx, cs, ns, name))
		}
		return false, "phase " + string(p.Status.Phase), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return podLogs(ctx, cs, ns, name)
}

func deployEcho(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns, proberImage string) {
	t.Helper()
	replicas := int32(2)
	labels := map[string]string{"app": "echo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "echo", Image: proberImage, ImagePullPolicy: corev1.PullNever,
					Args:  []string{"serve", ":8080"},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 2},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := poll(ctx, 2*time.Minute, "echo deployment ready", func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return d.Status.ReadyReplicas == replicas, fmt.Sprintf("%d/%d ready", d.Status.ReadyReplicas, replicas), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func podLogs(ctx context.Context, cs *kubernetes.Clientset, ns, name string) string {
	raw, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "logs unavailable: " + err.Error()
	}
	return string(raw)
}

// deleteNamespace waits for the namespace to be gone so NodePort 30080 is
// free again for whatever runs next on the cluster.
func deleteNamespace(t *testing.T, cs *kubernetes.Clientset, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", ns, err)
		return
	}
	err := poll(ctx, 2*time.Minute, "namespace "+ns+" deletion", func(ctx context.Context) (bool, string, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still terminating", nil
	})
	if err != nil {
		t.Errorf("%v", err)
	}
}
