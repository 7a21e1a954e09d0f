package framework

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDumpDiagnosticsWritesObjectsEventsAndLogs(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "inference-1", Namespace: "flts"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "inference"}}},
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "flts"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "inference-1"},
		Reason:         "BackOff", Message: "Back-off restarting failed container", Type: "Warning",
	}
	dir := t.TempDir()
	err := DumpDiagnostics(context.Background(), DumpInput{Client: fake.NewClientset(pod, ev, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "flts-e2e-control-plane"}}), Namespaces: []string{"flts"}, Dir: dir})
	if err != nil {
		t.Fatalf("DumpDiagnostics: %v", err)
	}
	events, err := os.ReadFile(filepath.Join(dir, "flts", "events.txt"))
	if err != nil || !strings.Contains(string(events), "Pod/inference-1\tBackOff") {
		t.Fatalf("events.txt = %q, %v", events, err)
	}
	pods, err := os.ReadFile(filepath.Join(dir, "flts", "pods.yaml"))
	if err != nil || !strings.Contains(string(pods), "name: inference-1") {
		t.Fatalf("pods.yaml = %q, %v", pods, err)
	}
	if nodes, err := os.ReadFile(filepath.Join(dir, "nodes.yaml")); err != nil || !strings.Contains(string(nodes), "name: flts-e2e-control-plane") {
		t.Fatalf("nodes.yaml = %q, %v", nodes, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "flts", "replicasets.yaml")); err != nil {
		t.Fatal(err)
	}
	// The fake client serves a fixed log body; the file must hold it.
	if logs, err := os.ReadFile(filepath.Join(dir, "flts", "pods", "inference-1-inference.log")); err != nil || len(logs) == 0 {
		t.Fatalf("pod log = %q, %v", logs, err)
	}
}
