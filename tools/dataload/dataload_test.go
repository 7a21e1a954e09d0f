package dataload

import (
	"context"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// A bad file is refused with its line and column before any cluster call:
// the API server here does not exist, so reaching it would be another error.
func TestLoadRefusesABadCSVBeforeTouchingTheCluster(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for name, csv := range map[string]string{
		"bad header": "when,a\n2024-01-01 00:00:00,1\n",
		"bad time":   "time,a\n2024-13-01 00:00:00,1\n",
		"too few":    "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(context.Background(), Options{Config: cfg, Namespace: "flts", CSV: []byte(csv)})
			if err == nil || !strings.Contains(err.Error(), "not usable") {
				t.Fatalf("Load = %v, want the dataset refused", err)
			}
			if strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Fatalf("Load contacted the cluster before checking the file: %v", err)
			}
		})
	}
}

func TestStartPreprocessCopiesTheReleaseTemplate(t *testing.T) {
	backoff, ttl := int32(6), int32(600)
	from := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: PreprocessJob, Namespace: "flts", Labels: map[string]string{labelName: "preprocess"}},
		Spec: batchv1.JobSpec{BackoffLimit: &backoff, TTLSecondsAfterFinished: &ttl, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{labelName: "preprocess",
				"batch.kubernetes.io/controller-uid": "old", "controller-uid": "old", "job-name": PreprocessJob, "batch.kubernetes.io/job-name": PreprocessJob}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "preprocess", Image: "flts.local/preprocess:e2e"}}},
		}},
	}
	cs := fake.NewClientset()
	var created *batchv1.Job
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
		created.Name = created.GenerateName + "x1"
		return true, created, nil
	})
	name, err := startPreprocess(context.Background(), cs, from, "raw/uploads/abc.csv")
	if err != nil {
		t.Fatal(err)
	}
	if name != "preprocess-x1" || created.GenerateName != "preprocess-" || created.Namespace != "flts" && created.Namespace != "" {
		t.Errorf("created %q (generateName %q)", name, created.GenerateName)
	}
	if got := created.Spec.Template.Labels; len(got) != 1 || got[labelName] != "preprocess" {
		t.Errorf("template labels %v: the old Job's selector labels must go (the API server sets new ones)", got)
	}
	if args := created.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"--raw-key=raw/uploads/abc.csv"}) {
		t.Errorf("preprocess args %q, want the upload's key", args)
	}
	if *created.Spec.BackoffLimit != backoff || *created.Spec.TTLSecondsAfterFinished != ttl ||
		created.Spec.Template.Spec.Containers[0].Image != "flts.local/preprocess:e2e" {
		t.Errorf("the new Job does not run the release's template: %+v", created.Spec)
	}
	if from.Spec.Template.Labels["controller-uid"] != "old" {
		t.Error("the release's Job was modified")
	}
}
