package loadtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

func TestParsePodMetrics(t *testing.T) {
	raw := []byte(`{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[
	 {"metadata":{"name":"inference-a"},"containers":[{"name":"inference","usage":{"cpu":"253124123n","memory":"20Mi"}}]},
	 {"metadata":{"name":"inference-b"},"containers":[{"name":"inference","usage":{"cpu":"1"}},{"name":"side","usage":{"cpu":"5m"}}]}]}`)
	got, err := ParsePodMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got["inference-a"] != 254 || got["inference-b"] != 1005 || len(got) != 2 {
		t.Errorf("got %v", got)
	}
	if _, err := ParsePodMetrics([]byte(`{"items":[{"metadata":{"name":"x"},"containers":[{"usage":{"cpu":"lots"}}]}]}`)); err == nil {
		t.Error("want an error for an unparsable quantity")
	}
}

func TestSamplerRecordsReplicasAndCPU(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "inference", Namespace: "flts"}, Status: appsv1.DeploymentStatus{Replicas: 2}}
	cs := fake.NewClientset(dep)
	s := NewSampler(cs, "flts", "inference", nil)
	calls := 0
	s.cpu = func(context.Context) (map[string]int64, error) {
		calls++
		if calls == 2 {
			return nil, errors.New("metrics not ready")
		}
		return map[string]int64{"inference-a": int64(100 * calls)}, nil
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		if i == 3 {
			dep.Status.Replicas = 3
			if _, err := cs.AppsV1().Deployments("flts").UpdateStatus(context.Background(), dep, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		s.Observe(t0.Add(time.Duration(i) * 5 * time.Second))
	}
	r := s.Replicas()
	if len(r) != 7 || r[0].Value != 2 || r[6].Value != 3 {
		t.Errorf("replicas %v", r)
	}
	// CPU every 10 s: at 0 s, 10 s (error, skipped), 20 s, 30 s.
	if cpu := s.PodCPU()["inference-a"]; calls != 4 || len(cpu) != 3 || cpu[2].Value != 400 {
		t.Errorf("cpu calls %d samples %v", calls, cpu)
	}
}

func TestLevelResultFromRun(t *testing.T) {
	s, err := ParseResult(strings.NewReader(readSample(t, "worker-0.log")))
	if err != nil {
		t.Fatal(err)
	}
	l := LevelResult(Input{Users: 3, Workers: 1, Duration: 7 * time.Second}, Result{Summary: s, PerWorker: []loadgen.Summary{s}}, nil)
	// The sample server answered some requests 503: the level fails and says why.
	if l.Passed || !strings.Contains(l.FailureReason, fmt.Sprintf("%d of %d requests failed", s.FailureCount(), s.Requests)) {
		t.Errorf("passed %v reason %q", l.Passed, l.FailureReason)
	}
	s.Failures = map[string]int{}
	if l := LevelResult(Input{Users: 3}, Result{Summary: s}, nil); !l.Passed || l.Workers != 0 && l.Workers != 1 {
		t.Errorf("clean level: passed %v", l.Passed)
	}
}
