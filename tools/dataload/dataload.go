// Package dataload brings a user's dataset into a running release: it
// checks the CSV on this machine (nothing is stored when a line is bad),
// uploads it under its digest (two uploads never race on one object) to
// the release's MinIO through a port-forward (no extra image,
// no exposed port: S3 signatures do not survive the API server's service
// proxy, which rewrites the path) and starts a preprocessing Job from the
// release's own Job template. The new data version then flows through
// training and promotion like the first one.
package dataload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/flts/flts-e2e/pkg/objstore/s3store"
	"github.com/flts/flts-e2e/pkg/pipeline"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

// The chart's names (fixtures/charts/flts) this package relies on.
const (
	minioComponent = "minio"
	minioPort      = 9000
	// SecretName holds the object store's accessKey and secretKey.
	SecretName = "minio-credentials"
	// PreprocessJob is the release's Job whose pod template a new run copies.
	PreprocessJob = "preprocess"
	labelName     = "app.kubernetes.io/name"
)

// Options configures Load.
type Options struct {
	Config    *rest.Config
	Namespace string
	// CSV is the raw dataset: a time column and the KPI columns.
	CSV []byte
	// Preprocess is the configuration the CSV is checked against
	// (default preprocess.DefaultConfig, the chart's default).
	Preprocess *preprocess.Config
	Logger     *slog.Logger
}

// Result says what Load did.
type Result struct {
	// Digest is the CSV's sha256, part of the data version it yields.
	Digest string
	// Key is where the CSV is stored in the dataset bucket.
	Key string
	// Job is the preprocessing Job started for it.
	Job string
}

// Load checks opts.CSV, stores it as the release's raw dataset and starts a
// preprocessing Job. It returns once the Job is created; the caller may
// follow it (WaitJob).
func Load(ctx context.Context, opts Options) (Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := preprocess.DefaultConfig()
	if opts.Preprocess != nil {
		cfg = *opts.Preprocess
	}
	// Before any cluster call: a bad file costs nothing and stores nothing.
	if err := Check(opts.CSV, cfg); err != nil {
		return Result{}, err
	}
	cs, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return Result{}, fmt.Errorf("failed to create a client: %w", err)
	}
	template, err := cs.BatchV1().Jobs(opts.Namespace).Get(ctx, PreprocessJob, metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("failed to read Job %s/%s, whose template a new preprocessing run copies (is the release installed?): %w", opts.Namespace, PreprocessJob, err)
	}
	secret, err := cs.CoreV1().Secrets(opts.Namespace).Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("failed to read the object store credentials %s/%s: %w", opts.Namespace, SecretName, err)
	}
	pod, err := readyPod(ctx, cs, opts.Namespace, minioComponent)
	if err != nil {
		return Result{}, err
	}
	endpoint, stop, err := forward(ctx, opts.Config, opts.Namespace, pod, minioPort)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	log.Info("uploading the dataset", "pod", pod, "via", endpoint, "bytes", len(opts.CSV))
	store, err := s3store.New(s3store.Config{Endpoint: endpoint, AccessKey: string(secret.Data["accessKey"]),
		SecretKey: string(secret.Data["secretKey"])}, log)
	if err != nil {
		return Result{}, err
	}
	key := pipeline.UploadKey(opts.CSV)
	if err := pipeline.PutDataset(ctx, store, key, opts.CSV, cfg); err != nil {
		return Result{}, err
	}
	job, err := startPreprocess(ctx, cs, template, key)
	if err != nil {
		return Result{}, err
	}
	log.Info("preprocessing started", "job", job)
	return Result{Digest: pipeline.RawDigest(opts.CSV), Key: key, Job: job}, nil
}

// Check reports, with its line and column, what makes csv unusable for
// preprocessing with cfg; nil when it can be loaded.
func Check(csv []byte, cfg preprocess.Config) error {
	if err := pipeline.CheckDataset(csv, cfg); err != nil {
		return fmt.Errorf("the dataset is not usable: %w", err)
	}
	return nil
}

// startPreprocess creates a Job running the release Job's pod template on
// the upload at rawKey (its preprocess container gets --raw-key); the name
// and the Job's own selector labels are left to the API server.
func startPreprocess(ctx context.Context, cs kubernetes.Interface, from *batchv1.Job, rawKey string) (string, error) {
	tmpl := *from.Spec.Template.DeepCopy()
	for _, k := range []string{"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"} {
		delete(tmpl.Labels, k)
	}
	i := slices.IndexFunc(tmpl.Spec.Containers, func(c corev1.Container) bool { return c.Name == PreprocessJob })
	if i < 0 {
		return "", fmt.Errorf("job %s/%s has no %q container to run", from.Namespace, from.Name, PreprocessJob)
	}
	tmpl.Spec.Containers[i].Args = append(tmpl.Spec.Containers[i].Args, "--raw-key="+rawKey)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: PreprocessJob + "-", Labels: from.Labels},
		Spec:       batchv1.JobSpec{BackoffLimit: from.Spec.BackoffLimit, TTLSecondsAfterFinished: from.Spec.TTLSecondsAfterFinished, Template: tmpl},
	}
	created, err := cs.BatchV1().Jobs(from.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to start a preprocessing Job: %w", err)
	}
	return created.Name, nil
}

// WaitJob waits for a Job to succeed, logging its state every poll; a Job
// that fails returns an error naming it.
func WaitJob(ctx context.Context, cfg *rest.Config, namespace, name string, log *slog.Logger) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create a client: %w", err)
	}
	start, logged := time.Now(), time.Time{}
	var failed error
	// apimachinery's wait, the tools' one way to wait; no deadline of its
	// own: the caller's context (Ctrl-C) ends it.
	err = wait.PollUntilContextCancel(ctx, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return false, fmt.Errorf("job %s is gone (deleted, or reaped by its TTL before it finished?)", name)
		case err != nil:
			// One failed read (an API server restart, a timeout) is not
			// the Job's failure: say so and read again at the next poll.
			if log != nil {
				log.Warn("failed to read the preprocessing Job; retrying", "job", name, "error", err)
			}
			return false, nil
		}
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return true, nil
			case batchv1.JobFailed:
				failed = fmt.Errorf("job %s failed: %s: %s (kubectl -n %s logs job/%s)", name, c.Reason, c.Message, namespace, name)
				return false, failed
			}
		}
		// A line at least every 30 s: never a silent terminal.
		if log != nil && time.Since(logged) >= 30*time.Second {
			logged = time.Now()
			log.Info("preprocessing", "job", name, "active", j.Status.Active, "failed pods", j.Status.Failed, "elapsed", time.Since(start).Round(time.Second))
		}
		return false, nil
	})
	if err != nil && failed == nil && ctx.Err() != nil {
		return fmt.Errorf("stopped waiting for Job %s: %w", name, err)
	}
	return err
}

func readyPod(ctx context.Context, cs kubernetes.Interface, namespace, component string) (string, error) {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelName + "=" + component})
	if err != nil {
		return "", fmt.Errorf("failed to list %s pods: %w", component, err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no Ready %s pod in namespace %s", component, namespace)
}

// forward opens a port-forward from a free loopback port to pod:port and
// returns "127.0.0.1:<port>" and the function that closes it.
func forward(ctx context.Context, cfg *rest.Config, namespace, pod string, port int) (string, func(), error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return "", nil, fmt.Errorf("failed to set up the port-forward transport: %w", err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return "", nil, fmt.Errorf("bad API server address %q: %w", cfg.Host, err)
	}
	u.Path, err = url.JoinPath(u.Path, "api", "v1", "namespaces", namespace, "pods", pod, "portforward")
	if err != nil {
		return "", nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stopCh, readyCh, io.Discard, io.Discard)
	if err != nil {
		return "", nil, fmt.Errorf("failed to set up the port-forward to %s: %w", pod, err)
	}
	errCh := make(chan error, 1)
	go func() { errCh <- fw.ForwardPorts() }()
	stop := func() { close(stopCh) }
	select {
	case <-readyCh:
	case err := <-errCh:
		return "", nil, fmt.Errorf("port-forward to %s/%s:%d failed: %w", namespace, pod, port, err)
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		stop()
		return "", nil, errors.Join(errors.New("port-forward opened no local port"), err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))), stop, nil
}
