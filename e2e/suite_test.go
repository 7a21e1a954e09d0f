package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/tools/imagebuild"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// suiteEnv is what BeforeSuite set up and every area uses.
type suiteEnv struct {
	cfg       framework.Config
	log       *slog.Logger
	target    target
	envconf   *envconf.Config
	klient    klient.Client
	clientset kubernetes.Interface
	proxy     *framework.APIProxy
	inference *framework.InferenceClient
	// metricsServer is the Service behind the metrics API.
	metricsServer k8stypes.NamespacedName
	helm          *framework.Helm
	// failed is set by any failed spec; setUp once BeforeSuite finished.
	// A BeforeSuite that failed part-way (Helm, pipeline, rollout) leaves
	// setUp false, and the teardown saves diagnostics for it too: neither
	// ReportAfterEach nor CurrentSpecReport sees that failure.
	failed bool
	setUp  bool
	// loadRuns are the load levels measured so far, by users.
	loadRuns map[int]loadRun
	// restartBaseline is each Deployment container's restart count when
	// the set-up finished (see guards_test.go).
	restartBaseline map[string]int32
	// eventsSince is when the guard last read Warning events.
	eventsSince time.Time
}

var env *suiteEnv

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "FLTS e2e")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	repoRoot, err := filepath.Abs("..")
	Expect(err).NotTo(HaveOccurred())
	cfg, err := framework.ConfigFromEnv(repoRoot)
	Expect(err).NotTo(HaveOccurred(), "bad suite configuration")
	Expect(os.MkdirAll(cfg.ArtifactsDir, 0o755)).To(Succeed())
	// The load-test report merges every level file it finds: files from an
	// earlier run must not be reported as this run's.
	Expect(os.RemoveAll(filepath.Join(cfg.ArtifactsDir, report.DataDir))).To(Succeed())
	log := slog.New(slog.NewTextHandler(GinkgoWriter, nil))
	env = &suiteEnv{cfg: cfg, log: log}

	if cfg.Existing() {
		By(fmt.Sprintf("using the existing cluster of E2E_KUBECONFIG (%s)", cfg.Kubeconfig))
	} else {
		By(fmt.Sprintf("bringing up kind cluster %q (Kubernetes %s)", cfg.ClusterName, cfg.K8sVersion))
	}
	upCtx, cancel := context.WithTimeout(ctx, ClusterUpTimeout)
	defer cancel()
	t, err := upTarget(upCtx, cfg, log)
	Expect(err).NotTo(HaveOccurred(), "cluster did not come up")
	env.target = t
	// Registered right after create: runs on success, failure and Ctrl-C.
	DeferCleanup(teardown)

	env.envconf = envconf.NewWithKubeConfig(t.Kubeconfig())
	env.klient, err = env.envconf.NewClient()
	Expect(err).NotTo(HaveOccurred())
	env.clientset, err = kubernetes.NewForConfig(env.klient.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	env.proxy, err = framework.NewAPIProxy(env.klient.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	// The user's path from outside the cluster: kind maps the NodePort to
	// the host; an existing cluster is reached at E2E_INFERENCE_URL or
	// through the API server's service proxy.
	switch {
	case cfg.InferenceURL != "":
		env.inference = framework.NewInferenceClient(cfg.InferenceURL, nil)
	case cfg.InferenceViaAPIServer():
		env.inference = framework.NewInferenceClient(env.proxy.ServiceURL(cfg.Namespace, "inference", 8000), env.proxy.Transport())
	default:
		env.inference = framework.NewInferenceClient(fmt.Sprintf("http://127.0.0.1:%d", cfg.NodePort), nil)
	}
	log.Info("inference API from outside the cluster", "url", env.inference.BaseURL)

	By("checking the metrics API the HPA reads (metrics-server)")
	env.metricsServer = framework.WaitForMetricsAPI(ctx, framework.WaitForMetricsAPIInput{
		Client: env.clientset, Timeout: MetricsAPITimeout, Poll: Poll})
	if cfg.Existing() {
		By("checking for a default StorageClass (MinIO and NATS keep their data on claims)")
		sc, err := framework.DefaultStorageClass(ctx, env.clientset)
		Expect(err).NotTo(HaveOccurred())
		Expect(sc).NotTo(BeEmpty(), "the cluster has no default StorageClass: mark one with %s=true", framework.DefaultStorageClassAnnotation)
	}

	// The images are built before the suite (`make images`): nothing is
	// compiled under the suite's deadline.
	By(fmt.Sprintf("delivering the pipeline images to the nodes (%s)", cfg.Images.Registry))
	imgCtx, cancelImg := context.WithTimeout(ctx, ImagesTimeout)
	defer cancelImg()
	builder, err := imagebuild.New(imagebuild.Options{RepoRoot: repoRoot, Tag: cfg.ImageTag, Logger: log})
	Expect(err).NotTo(HaveOccurred())
	Expect(t.DeliverImages(imgCtx, builder, imagebuild.PipelineImages)).To(Succeed(), "images not delivered")

	By("installing the flts Helm chart with values-e2e.yaml")
	env.helm, err = framework.NewHelm(ctx, framework.HelmInput{
		RepoRoot:   repoRoot,
		Kubeconfig: t.Kubeconfig(),
		Namespace:  cfg.Namespace,
		Release:    cfg.Release,
	})
	Expect(err).NotTo(HaveOccurred())
	helmArgs := []string{"-f", filepath.Join(env.helm.ChartDir(), "values-e2e.yaml")}
	for _, f := range cfg.ExtraValues {
		helmArgs = append(helmArgs, "-f", f)
	}
	helmArgs = append(helmArgs, "--set", "image.tag="+cfg.ImageTag,
		"--set", "image.registry="+cfg.Images.Registry, "--set", "image.pullPolicy="+string(cfg.Images.PullPolicy))
	if cfg.InferenceViaAPIServer() {
		// A fixed NodePort may be taken on a shared cluster: let it
		// allocate one (the suite goes through the API server there). With
		// E2E_INFERENCE_URL the user's E2E_VALUES may pin one instead.
		helmArgs = append(helmArgs, "--set", "inference.service.nodePort=null")
	}
	if cfg.ReuseCluster || cfg.Existing() {
		// Reuse keeps the cluster, never the release: see ResetNamespace.
		// On an existing cluster, a run that was killed before its
		// teardown leaves its namespace behind.
		By("removing the release a previous run left on the cluster")
		framework.ResetNamespace(ctx, framework.ResetNamespaceInput{
			Client: env.clientset, Namespace: cfg.Namespace, Timeout: NamespaceResetTimeout, Poll: Poll, Logger: log})
	}
	Expect(framework.CreateNamespace(ctx, env.clientset, cfg.Namespace)).To(Succeed())
	installed := time.Now()
	Expect(env.helm.UpgradeInstall(ctx, HelmTimeout, helmArgs...)).To(Succeed())

	By("waiting for preprocess, training and the first promotion")
	framework.WaitForPipeline(ctx, framework.WaitForPipelineInput{
		Client:    env.clientset,
		Proxy:     env.proxy,
		Namespace: cfg.Namespace,
		Timeout:   PipelineTimeout,
		Poll:      Poll,
		Logger:    log,
		NotBefore: installed,
	})
	By("waiting for the inference Deployment to serve the promoted model, and every other Deployment of the release")
	framework.WaitForDeploymentReady(ctx, framework.WaitForDeploymentInput{
		Client: env.clientset, Namespace: cfg.Namespace, Name: "inference", MinReady: 2,
		Timeout: RolloutTimeout, Poll: Poll,
	})
	// Prometheus and the trainers too: one that cannot start (a crash
	// loop) fails the set-up with its name, not an area minutes later.
	// One RolloutTimeout for all of them.
	deployments, err := env.clientset.AppsV1().Deployments(cfg.Namespace).List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	rolloutsStart := time.Now()
	for _, d := range deployments.Items {
		if d.Name != "inference" && d.Spec.Replicas != nil {
			framework.WaitForDeploymentReady(ctx, framework.WaitForDeploymentInput{
				Client: env.clientset, Namespace: cfg.Namespace, Name: d.Name, MinReady: *d.Spec.Replicas,
				Timeout: max(RolloutTimeout-time.Since(rolloutsStart), Poll), Poll: Poll,
			})
		}
	}
	// Ready pods are not yet a programmed Service: kube-proxy adds their
	// endpoints a moment later, and a request through the NodePort in that
	// moment ends in EOF. The areas start once the user's path (host →
	// NodePort → Service) reaches every Ready pod.
	By("waiting for the path from outside the cluster to reach every Ready inference pod")
	Eventually(func(g Gomega) {
		pods, err := env.clientset.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
		g.Expect(err).NotTo(HaveOccurred())
		answered := map[string]bool{}
		for range 20 {
			_, resp, err := env.inference.Health(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resp.Status).To(Equal(http.StatusOK))
			answered[resp.ServedBy] = true
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; framework.PodReady(p) {
				g.Expect(answered).To(HaveKey(p.Name), "Ready pod %s not reached through %s", p.Name, env.inference.BaseURL)
			}
		}
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	baseline, err := deploymentRestarts(ctx)
	Expect(err).NotTo(HaveOccurred())
	env.restartBaseline = map[string]int32{}
	for id, c := range baseline {
		env.restartBaseline[id] = c.restarts
	}
	env.eventsSince = time.Now()
	env.setUp = true
}, NodeTimeout(ClusterUpTimeout+MetricsAPITimeout+ImagesTimeout+NamespaceResetTimeout+HelmTimeout+PipelineTimeout+3*RolloutTimeout))

// teardown saves diagnostics when anything failed, then removes what the
// suite created: the kind cluster, or on an existing cluster the release's
// namespace (both kept with E2E_KEEP_CLUSTER).
func teardown(ctx SpecContext) {
	if env == nil || env.target == nil {
		return
	}
	if env.failed || !env.setUp || CurrentSpecReport().Failed() {
		dir := filepath.Join(env.cfg.ArtifactsDir, "diagnostics")
		env.log.Info("saving diagnostics", "dir", dir)
		namespaces := []string{env.cfg.Namespace, "kube-system"}
		if env.cfg.Existing() {
			// Not the user's system pods, nor a namespace of theirs that
			// stopped the set-up: only what the suite made.
			namespaces = nil
			if env.clientset != nil && framework.Owned(ctx, env.clientset, env.cfg.Namespace) {
				namespaces = []string{env.cfg.Namespace}
			}
		}
		if env.clientset != nil {
			if err := framework.DumpDiagnostics(ctx, framework.DumpInput{
				Client: env.clientset, Namespaces: namespaces, Dir: dir,
			}); err != nil {
				env.log.Warn("some diagnostics were not saved", "err", err)
			}
		}
		if err := env.target.ExportLogs(ctx, filepath.Join(dir, "kind")); err != nil {
			env.log.Warn("exporting the nodes' logs failed", "err", err)
		}
	}
	if env.cfg.Existing() && env.clientset != nil {
		if env.cfg.KeepCluster {
			env.log.Info("keeping the release (E2E_KEEP_CLUSTER)", "namespace", env.cfg.Namespace, "kubeconfig", env.cfg.Kubeconfig)
		} else {
			By("removing the release's namespace from the existing cluster")
			framework.ResetNamespace(ctx, framework.ResetNamespaceInput{
				Client: env.clientset, Namespace: env.cfg.Namespace, Timeout: NamespaceResetTimeout, Poll: Poll, Logger: env.log})
		}
	}
	Expect(env.target.Close(ctx)).To(Succeed())
}

var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() && env != nil {
		env.failed = true
	}
})

var _ = ReportAfterSuite("artifacts", func(report Report) {
	// The same resolution as the suite's configuration, also when
	// BeforeSuite failed before reading it.
	repoRoot, err := filepath.Abs("..")
	Expect(err).NotTo(HaveOccurred())
	dir := reporoot.ArtifactsDir(repoRoot, os.Getenv("ARTIFACTS"))
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	Expect(reporters.GenerateJUnitReport(report, filepath.Join(dir, "junit.xml"))).To(Succeed())
	Expect(reporters.GenerateJSONReport(report, filepath.Join(dir, "report.json"))).To(Succeed())
	var sb []string
	for _, s := range report.SpecReports {
		if s.LeafNodeType == types.NodeTypeIt {
			sb = append(sb, fmt.Sprintf("%-8s %6.1fs  %s", s.State, s.RunTime.Seconds(), s.FullText()))
		}
	}
	Expect(os.WriteFile(filepath.Join(dir, "spec-times.txt"), []byte(strings.Join(sb, "\n")+"\n"), 0o644)).To(Succeed())
})
