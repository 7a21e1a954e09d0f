package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/flts/flts-e2e/pkg/loadgen"
)

// Defaults for Input fields left empty.
const (
	DefaultImage     = "flts.local/loadgen:e2e"
	DefaultTargetURL = "http://inference:8000/predict"
	DefaultWorkers   = 4
	// LabelName / LabelValue mark the load-generator pods.
	LabelName  = "app.kubernetes.io/name"
	LabelValue = "loadgen"
)

// Input describes one load level.
type Input struct {
	// Client talks to the cluster; when nil it is built from RestConfig.
	Client     kubernetes.Interface
	RestConfig *rest.Config
	Namespace  string
	Image      string // default DefaultImage
	// PullPolicy defaults to Never: images are loaded into kind, there is
	// no registry to pull from.
	PullPolicy corev1.PullPolicy
	TargetURL  string // default DefaultTargetURL
	Users      int
	Workers    int // pods sharing the users; default DefaultWorkers, at most Users
	Duration   time.Duration
	RampUp     time.Duration
	ThinkMin   time.Duration // default 1 s
	ThinkMax   time.Duration // default 2 s
	Mix        string        // loadgen.MixPredict (default) or loadgen.MixMixed
	Timeout    time.Duration // per request, default 30 s
	// Name of the Job; default loadgen-<users>u-<time>.
	Name string
	// StartTimeout bounds scheduling and start of the pods on top of
	// Duration+Timeout (default 3 min).
	StartTimeout time.Duration
	// PollInterval of the Job status (default 2 s); Observe is called at
	// every poll, so callers can sample replicas and CPU during the run.
	PollInterval time.Duration
	Observe      func(time.Time)
	// LogSettle bounds how long a finished pod's result line may take to
	// reach its log (default 20 s).
	LogSettle time.Duration
	Logger    *slog.Logger // default silent
}

// Result is a finished level.
type Result struct {
	Summary   loadgen.Summary   // merged over the workers
	PerWorker []loadgen.Summary // by completion index
	JobName   string
	Start     time.Time // Job created
	End       time.Time // Job complete
}

// NewClient returns in.Client, or a clientset built from in.RestConfig.
func NewClient(in Input) (kubernetes.Interface, error) {
	if in.Client != nil {
		return in.Client, nil
	}
	if in.RestConfig == nil {
		return nil, errors.New("a Client or a RestConfig is required")
	}
	c, err := kubernetes.NewForConfig(in.RestConfig)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client from RestConfig: %w", err)
	}
	return c, nil
}

func (in *Input) defaults() error {
	var errs []error
	if c, err := NewClient(*in); err != nil {
		errs = append(errs, err)
	} else {
		in.Client = c
	}
	if in.Namespace == "" {
		errs = append(errs, errors.New("a Namespace is required"))
	}
	if in.Users < 1 {
		errs = append(errs, fmt.Errorf("need Users >= 1, got %d", in.Users))
	}
	if in.Duration <= 0 {
		errs = append(errs, fmt.Errorf("need Duration > 0, got %s", in.Duration))
	}
	if in.RampUp < 0 || in.RampUp >= in.Duration {
		errs = append(errs, fmt.Errorf("need RampUp in [0, Duration), got %s", in.RampUp))
	}
	in.Image = cmpOr(in.Image, DefaultImage)
	in.TargetURL = cmpOr(in.TargetURL, DefaultTargetURL)
	in.Mix = cmpOr(in.Mix, loadgen.MixPredict)
	in.PullPolicy = cmpOr(in.PullPolicy, corev1.PullNever)
	if in.Workers == 0 {
		in.Workers = DefaultWorkers
	}
	if in.Workers < 0 {
		errs = append(errs, fmt.Errorf("need Workers >= 1, got %d", in.Workers))
	}
	in.Workers = min(in.Workers, max(in.Users, 1))
	if in.ThinkMin == 0 && in.ThinkMax == 0 {
		in.ThinkMin, in.ThinkMax = time.Second, 2*time.Second
	}
	if in.ThinkMin < 0 || in.ThinkMax < in.ThinkMin {
		errs = append(errs, fmt.Errorf("think time must satisfy 0 <= min <= max, got %s..%s", in.ThinkMin, in.ThinkMax))
	}
	in.Timeout = cmpOr(in.Timeout, 30*time.Second)
	in.StartTimeout = cmpOr(in.StartTimeout, 3*time.Minute)
	in.PollInterval = cmpOr(in.PollInterval, 2*time.Second)
	in.LogSettle = cmpOr(in.LogSettle, 20*time.Second)
	if in.Name == "" {
		in.Name = fmt.Sprintf("loadgen-%du-%s", in.Users, strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36), 36))
	}
	if in.Logger == nil {
		in.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// BuildJob returns the Indexed Job of a level (exported so callers and
// tests can see exactly what is created).
func BuildJob(in Input) *batchv1.Job {
	labels := map[string]string{LabelName: LabelValue, "flts.io/load-users": strconv.Itoa(in.Users)}
	args := []string{"run",
		"--url", in.TargetURL,
		"--users", strconv.Itoa(in.Users),
		"--workers", strconv.Itoa(in.Workers),
		"--duration", in.Duration.String(),
		"--ramp-up", in.RampUp.String(),
		"--think-min", in.ThinkMin.String(),
		"--think-max", in.ThinkMax.String(),
		"--mix", in.Mix,
		"--timeout", in.Timeout.String(),
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: in.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			CompletionMode: ptr.To(batchv1.IndexedCompletion),
			Completions:    ptr.To(int32(in.Workers)),
			Parallelism:    ptr.To(int32(in.Workers)),
			// A failed worker would rerun its share late and skew the level:
			// fail the level instead.
			BackoffLimit:            ptr.To(int32(0)),
			TTLSecondsAfterFinished: ptr.To(int32(600)),
			ActiveDeadlineSeconds:   ptr.To(int64((in.Duration + in.Timeout + in.StartTimeout).Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(int64(5)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(int64(65532)),
						RunAsGroup:     ptr.To(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "loadgen",
						Image:           in.Image,
						ImagePullPolicy: in.PullPolicy,
						Args:            args,
						Resources: corev1.ResourceRequirements{
							// A small request so the workers fit next to the
							// system under test; no CPU limit, because a
							// throttled generator would report its own delays
							// as server latency.
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("50m"),
								corev1.ResourceMemory: resource.MustParse("32Mi"),
							},
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

// logsFunc returns a pod's log; replaced in tests (the fake clientset
// answers every log request with "fake logs").
type logsFunc func(ctx context.Context, namespace, pod string) (string, error)

// Run creates the Job, waits for it, merges the workers' results and
// deletes the Job (also on error or cancellation).
func Run(ctx context.Context, in Input) (Result, error) {
	return run(ctx, in, nil)
}

func run(ctx context.Context, in Input, logs logsFunc) (res Result, err error) {
	if err := in.defaults(); err != nil {
		return Result{}, fmt.Errorf("failed to validate load-test input: %w", err)
	}
	if logs == nil {
		logs = clientLogs(in.Client)
	}
	log := in.Logger.With("job", in.Name, "users", in.Users, "workers", in.Workers)
	jobs := in.Client.BatchV1().Jobs(in.Namespace)
	job := BuildJob(in)
	res.JobName = in.Name
	res.Start = time.Now().UTC()
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("failed to create load job %s/%s: %w", in.Namespace, in.Name, err)
	}
	defer func() {
		// The caller's ctx may be cancelled already: clean up on our own.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		derr := jobs.Delete(dctx, in.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if derr != nil && !apierrors.IsNotFound(derr) {
			err = errors.Join(err, fmt.Errorf("failed to delete load job %s/%s: %w", in.Namespace, in.Name, derr))
		}
	}()
	log.Info("load job created", "image", in.Image, "target", in.TargetURL, "duration", in.Duration.String())

	done, err := waitForJob(ctx, in, log)
	res.End = time.Now().UTC()
	if err != nil {
		return res, err
	}
	pods, err := in.Client.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + in.Name})
	if err != nil {
		return res, fmt.Errorf("failed to list pods of load job %s: %w", in.Name, err)
	}
	byIndex := map[int]loadgen.Summary{}
	var errs []error
	for _, pod := range pods.Items {
		idx, convErr := strconv.Atoi(pod.Annotations[batchv1.JobCompletionIndexAnnotation])
		if convErr != nil {
			errs = append(errs, fmt.Errorf("pod %s has no completion index", pod.Name))
			continue
		}
		s, perr := readResult(ctx, logs, in.Namespace, pod.Name, in.LogSettle)
		if perr != nil {
			errs = append(errs, fmt.Errorf("load pod %s (index %d, phase %s): %w", pod.Name, idx, pod.Status.Phase, perr))
			continue
		}
		byIndex[idx] = s
	}
	for i := range in.Workers {
		if _, ok := byIndex[i]; !ok && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("no pod of load job %s reported a result for index %d", in.Name, i))
		}
	}
	if !done {
		errs = append(errs, fmt.Errorf("load job %s failed", in.Name))
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	for _, i := range slices.Sorted(maps.Keys(byIndex)) {
		res.PerWorker = append(res.PerWorker, byIndex[i])
	}
	res.Summary = loadgen.Merge(res.PerWorker...)
	log.Info("load level finished", "requests", res.Summary.Requests, "rps", fmt.Sprintf("%.1f", res.Summary.RPS),
		"failures", res.Summary.FailureCount(), "throttled_429", res.Summary.Throttled429, "p95", res.Summary.P95.String())
	return res, nil
}

// waitForJob polls until the Job completes (true) or fails (false, nil:
// the caller still collects what the pods reported).
func waitForJob(ctx context.Context, in Input, log *slog.Logger) (bool, error) {
	timeout := in.Duration + in.Timeout + in.StartTimeout
	var complete bool
	var job *batchv1.Job
	lastLog := time.Time{}
	err := wait.PollUntilContextTimeout(ctx, in.PollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		now := time.Now()
		if in.Observe != nil {
			in.Observe(now)
		}
		got, err := in.Client.BatchV1().Jobs(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err() // the poll's deadline, not the API
			}
			return false, fmt.Errorf("failed to get load job %s: %w", in.Name, err)
		}
		job = got // the last status read, for the timeout message
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				complete = true
				return true, nil
			case batchv1.JobFailed:
				log.Warn("load job failed", "reason", c.Reason, "message", c.Message)
				return true, nil
			}
		}
		if err := stuckPod(ctx, in); err != nil {
			return false, err
		}
		if now.Sub(lastLog) >= 10*time.Second {
			lastLog = now
			log.Info("waiting for load job", "active", job.Status.Active, "succeeded", job.Status.Succeeded,
				"failed", job.Status.Failed, "elapsed", now.Sub(job.CreationTimestamp.Time).Round(time.Second).String())
		}
		return false, nil
	})
	switch {
	case err == nil:
		return complete, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("stopped waiting for load job %s: %w", in.Name, ctx.Err())
	case wait.Interrupted(err) && job != nil:
		return false, fmt.Errorf("load job %s did not finish within %s (active %d, succeeded %d, failed %d)",
			in.Name, timeout, job.Status.Active, job.Status.Succeeded, job.Status.Failed)
	case wait.Interrupted(err):
		return false, fmt.Errorf("load job %s did not finish within %s", in.Name, timeout)
	default:
		return false, err
	}
}

// stuckReasons are container states that never resolve by waiting: fail
// the level at once instead of at the Job's deadline.
var stuckReasons = map[string]bool{"ErrImageNeverPull": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"InvalidImageName": true, "CreateContainerConfigError": true, "CreateContainerError": true}

func stuckPod(ctx context.Context, in Input) error {
	pods, err := in.Client.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + in.Name})
	if err != nil {
		return nil // only a diagnosis; the Job status decides
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return fmt.Errorf("load pod %s cannot start: %s: %s (is %s loaded into the cluster?)", p.Name, w.Reason, w.Message, in.Image)
			}
		}
	}
	return nil
}

func clientLogs(c kubernetes.Interface) logsFunc {
	return func(ctx context.Context, ns, pod string) (string, error) {
		rc, err := c.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "loadgen"}).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		// Logs hold progress lines and one result line: a few MiB at most.
		b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		return string(b), err
	}
}

// readResult reads a pod's log and parses its result line, retrying for up
// to settle: the container runtime writes a long line in 16 KiB chunks and
// may still be flushing the last one when the pod already shows Succeeded
// (seen here: a result cut at 2 x 16 KiB).
func readResult(ctx context.Context, logs logsFunc, namespace, pod string, settle time.Duration) (loadgen.Summary, error) {
	var s loadgen.Summary
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, settle, true, func(ctx context.Context) (bool, error) {
		text, err := logs(ctx, namespace, pod)
		if err != nil {
			last = fmt.Errorf("failed to read logs: %w", err)
			return false, nil
		}
		if s, last = ParseResult(strings.NewReader(text)); last != nil {
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return loadgen.Summary{}, errors.Join(last, ctx.Err())
		}
		return loadgen.Summary{}, last
	}
	return s, nil
}

// ParseResult decodes the result lines of a load-generator pod's log.
func ParseResult(r io.Reader) (loadgen.Summary, error) {
	return loadgen.ReadResult(r)
}
