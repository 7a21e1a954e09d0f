package loadtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseResultFromRealLog(t *testing.T) {
	s, err := ParseResult(strings.NewReader(readSample(t, "worker-0.log")))
	if err != nil {
		t.Fatal(err)
	}
	// worker-0 ran 3 of 5 users against a server that answered every 10th
	// request 429 and every 25th 503.
	if s.Model != "closed-loop" || s.Users != 3 || s.Requests == 0 || s.Throttled429 == 0 || s.Failures["http_5xx:503"] == 0 {
		t.Fatalf("parsed %+v", s)
	}
	if s.Requests != s.Successes+s.Throttled429+s.FailureCount() || uint64(s.Requests) != s.Histogram.Count() {
		t.Errorf("counts do not add up: %d requests, %d ok, %d 429, %d failed, %d in histogram",
			s.Requests, s.Successes, s.Throttled429, s.FailureCount(), s.Histogram.Count())
	}
	for _, bad := range []string{"", "just logs\n", loadgen.ResultPrefix + "1/1 {not json\n", loadgen.ResultPrefix + "1/1 {}\n"} {
		if _, err := ParseResult(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseResult(%q): want an error", bad)
		}
	}
}

// fakeCluster plays the Job controller: once the Job exists it creates
// one pod per index and marks the Job complete.
func fakeCluster(t *testing.T, cs *fake.Clientset, ns string, created chan<- *batchv1.Job, withPods int) {
	t.Helper()
	go func() {
		ctx := context.Background()
		for {
			list, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(list.Items) == 1 {
				job := list.Items[0]
				created <- job.DeepCopy()
				for i := range withPods {
					pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
						Name: fmt.Sprintf("%s-%d-abcde", job.Name, i), Namespace: ns,
						Labels:      map[string]string{"batch.kubernetes.io/job-name": job.Name},
						Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)},
					}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
					if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
						t.Error(err)
					}
				}
				job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue})
				if _, err := cs.BatchV1().Jobs(ns).UpdateStatus(ctx, &job, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
}

func TestRunCreatesJobMergesAndCleansUp(t *testing.T) {
	cs := fake.NewClientset()
	created := make(chan *batchv1.Job, 1)
	fakeCluster(t, cs, "flts", created, 2)
	samples := map[string]string{"0": readSample(t, "worker-0.log"), "1": readSample(t, "worker-1.log")}
	observed := 0
	logs := func(_ context.Context, ns, pod string) (string, error) {
		return samples[pod[len(pod)-7:len(pod)-6]], nil
	}
	res, err := run(context.Background(), Input{Client: cs, Namespace: "flts", Users: 5, Workers: 2, Duration: 7 * time.Second,
		RampUp: time.Second, PollInterval: time.Millisecond, Observe: func(time.Time) { observed++ }}, logs)
	if err != nil {
		t.Fatal(err)
	}
	job := <-created
	spec := job.Spec
	pod := spec.Template.Spec
	c := pod.Containers[0]
	switch {
	case *spec.CompletionMode != batchv1.IndexedCompletion, *spec.Completions != 2, *spec.Parallelism != 2, *spec.BackoffLimit != 0,
		spec.TTLSecondsAfterFinished == nil:
		t.Errorf("job spec %+v", spec)
	case job.Labels["app.kubernetes.io/name"] != "loadgen" || spec.Template.Labels["app.kubernetes.io/name"] != "loadgen":
		t.Errorf("labels %v / %v", job.Labels, spec.Template.Labels)
	case c.Image != DefaultImage || c.ImagePullPolicy != corev1.PullNever:
		t.Errorf("image %s %s", c.Image, c.ImagePullPolicy)
	case !*pod.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.Capabilities.Drop[0] != "ALL" ||
		*c.SecurityContext.AllowPrivilegeEscalation:
		t.Errorf("security context %+v %+v", pod.SecurityContext, c.SecurityContext)
	case c.Resources.Requests.Cpu().MilliValue() != 50 || !c.Resources.Limits.Cpu().IsZero():
		t.Errorf("resources %+v", c.Resources)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"run ", "--url http://inference:8000/predict", "--users 5", "--workers 2", "--duration 7s", "--ramp-up 1s",
		"--think-min 1s", "--think-max 2s", "--mix predict"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	a, _ := ParseResult(strings.NewReader(samples["0"]))
	b, _ := ParseResult(strings.NewReader(samples["1"]))
	if len(res.PerWorker) != 2 || res.Summary.Users != 5 || res.Summary.Requests != a.Requests+b.Requests ||
		res.Summary.Throttled429 != a.Throttled429+b.Throttled429 || res.Summary.Histogram.Count() != uint64(a.Requests+b.Requests) ||
		res.Summary.ServedBy["inference-0"] != a.ServedBy["inference-0"]+b.ServedBy["inference-0"] {
		t.Errorf("merged %d users %d requests %d 429 from %d+%d", res.Summary.Users, res.Summary.Requests, res.Summary.Throttled429, a.Requests, b.Requests)
	}
	if observed == 0 {
		t.Error("Observe was never called")
	}
	if _, err := cs.BatchV1().Jobs("flts").Get(context.Background(), res.JobName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("job not deleted after the run: %v", err)
	}
}

func TestRunNamesPodWithoutResult(t *testing.T) {
	cs := fake.NewClientset()
	created := make(chan *batchv1.Job, 1)
	fakeCluster(t, cs, "flts", created, 2)
	logs := func(_ context.Context, ns, pod string) (string, error) {
		if strings.Contains(pod, "-1-") {
			return `{"level":"ERROR","msg":"crashed"}` + "\n", nil
		}
		return readSample(t, "worker-0.log"), nil
	}
	_, err := run(context.Background(), Input{Client: cs, Namespace: "flts", Users: 4, Workers: 2, Duration: time.Minute,
		PollInterval: time.Millisecond, LogSettle: time.Millisecond}, logs)
	job := <-created
	if err == nil || !strings.Contains(err.Error(), job.Name+"-1-abcde") {
		t.Fatalf("want an error naming pod %s-1-abcde, got %v", job.Name, err)
	}
	if _, gerr := cs.BatchV1().Jobs("flts").Get(context.Background(), job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
		t.Errorf("job not deleted after a failed run: %v", gerr)
	}
}

func TestRunDeletesJobWhenCancelled(t *testing.T) {
	cs := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if l, _ := cs.BatchV1().Jobs("flts").List(context.Background(), metav1.ListOptions{}); len(l.Items) == 1 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err := run(ctx, Input{Client: cs, Namespace: "flts", Users: 2, Duration: time.Minute, PollInterval: time.Millisecond}, nil)
	if err == nil {
		t.Fatal("want an error after cancellation")
	}
	if l, _ := cs.BatchV1().Jobs("flts").List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("%d jobs left after cancellation", len(l.Items))
	}
}

func TestInputValidation(t *testing.T) {
	cs := fake.NewClientset()
	for _, in := range []Input{
		{Namespace: "flts", Users: 1, Duration: time.Second},
		{Client: cs, Users: 1, Duration: time.Second},
		{Client: cs, Namespace: "flts", Users: 0, Duration: time.Second},
		{Client: cs, Namespace: "flts", Users: 1},
		{Client: cs, Namespace: "flts", Users: 1, Duration: time.Second, RampUp: time.Second},
	} {
		if _, err := Run(context.Background(), in); err == nil {
			t.Errorf("%+v: want an error", in)
		}
	}
	in := Input{Client: cs, Namespace: "flts", Users: 3, Workers: 8, Duration: time.Second}
	if err := in.defaults(); err != nil || in.Workers != 3 {
		t.Errorf("workers capped to users: got %d, %v", in.Workers, err)
	}
}

func TestRunFailsFastOnImageNeverPull(t *testing.T) {
	cs := fake.NewClientset()
	go func() {
		for {
			l, _ := cs.BatchV1().Jobs("flts").List(context.Background(), metav1.ListOptions{})
			if len(l.Items) == 1 {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: l.Items[0].Name + "-0-xyz", Namespace: "flts",
					Labels: map[string]string{"batch.kubernetes.io/job-name": l.Items[0].Name}},
					Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "loadgen",
						State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image not present"}}}}}}
				if _, err := cs.CoreV1().Pods("flts").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err := run(context.Background(), Input{Client: cs, Namespace: "flts", Users: 2, Duration: time.Hour, PollInterval: time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "ErrImageNeverPull") || !strings.Contains(err.Error(), "-0-xyz") {
		t.Fatalf("want an error naming the stuck pod and reason, got %v", err)
	}
}

func TestReadResultWaitsForTheLastLogChunk(t *testing.T) {
	full := readSample(t, "worker-0.log")
	i := strings.Index(full, loadgen.ResultPrefix)
	if i < 0 {
		t.Fatal("sample has no result line")
	}
	// The runtime has written only part of the long result line so far.
	cut := full[:i+len(loadgen.ResultPrefix)+100]
	reads := 0
	logs := func(context.Context, string, string) (string, error) {
		reads++
		if reads == 1 {
			return cut, nil
		}
		return full, nil
	}
	s, err := readResult(context.Background(), logs, "flts", "p", 10*time.Second)
	if err != nil || reads != 2 || s.Requests == 0 {
		t.Fatalf("readResult = %d requests, %v after %d reads; want the full result on the second read", s.Requests, err, reads)
	}
	// A line that never completes fails with the parse error once settle passes.
	reads = 0
	logs = func(context.Context, string, string) (string, error) { reads++; return cut, nil }
	if _, err := readResult(context.Background(), logs, "flts", "p", time.Millisecond); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("want a decode error for a cut line, got %v", err)
	}
}
