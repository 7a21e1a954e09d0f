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
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/tools/cluster"
	"github.com/flts/flts-e2e/tools/imagebuild"
	"github.com/flts/flts-e2e/tools/reporoot"
)

// suiteEnv is what BeforeSuite set up and every area uses.
type suiteEnv struct {
	cfg       framework.Config
	log       *slog.Logger
	cluster   *cluster.Cluster
	envconf   *envconf.Config
	klient    klient.Client
	clientset kubernetes.Interface
	proxy     *framework.APIProxy
	inference *framework.InferenceClient
	images    *imagebuild.Builder
	helm      *framework.Helm
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

	By(fmt.Sprintf("bringing up kind cluster %q (Kubernetes %s)", cfg.ClusterName, cfg.K8sVersion))
	upCtx, cancel := context.WithTimeout(ctx, ClusterUpTimeout)
	defer cancel()
	c, err := cluster.Up(upCtx, cluster.Options{
		Name:       cfg.ClusterName,
		K8sVersion: cfg.K8sVersion,
		NodeImage:  cfg.NodeImage,
		Reuse:      cfg.ReuseCluster,
		ImageTag:   cfg.ImageTag,
		RepoRoot:   repoRoot,
		Logger:     log,
		// The teardown's place for the nodes' logs: Up saves them itself
		// when the cluster it created fails, since no teardown runs then.
		DiagnosticsDir: filepath.Join(cfg.ArtifactsDir, "diagnostics", "kind"),
	})
	Expect(err).NotTo(HaveOccurred(), "cluster did not come up")
	env.cluster = c
	// Registered right after create: runs on success, failure and Ctrl-C.
	DeferCleanup(teardownCluster)

	env.envconf = envconf.NewWithKubeConfig(c.Kubeconfig())
	env.klient, err = env.envconf.NewClient()
	Expect(err).NotTo(HaveOccurred())
	env.clientset, err = kubernetes.NewForConfig(env.klient.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	env.proxy, err = framework.NewAPIProxy(env.klient.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	env.inference = framework.NewInferenceClient(fmt.Sprintf("http://127.0.0.1:%d", cfg.NodePort))

	// The images are built before the suite (`make images`): nothing is
	// compiled under the suite's deadline.
	By("loading the pipeline images into the node")
	imgCtx, cancelImg := context.WithTimeout(ctx, ImagesTimeout)
	defer cancelImg()
	env.images, err = imagebuild.New(imagebuild.Options{RepoRoot: repoRoot, Tag: cfg.ImageTag, Logger: log})
	Expect(err).NotTo(HaveOccurred())
	refs, err := env.images.Present(imgCtx, imagebuild.PipelineImages...)
	Expect(err).NotTo(HaveOccurred(), "pipeline images missing")
	Expect(c.LoadImages(imgCtx, refs...)).To(Succeed(), "loading images into the node failed")

	By("installing the flts Helm chart with values-e2e.yaml")
	env.helm, err = framework.NewHelm(ctx, framework.HelmInput{
		RepoRoot:   repoRoot,
		Kubeconfig: c.Kubeconfig(),
		Namespace:  cfg.Namespace,
		Release:    cfg.Release,
	})
	Expect(err).NotTo(HaveOccurred())
	helmArgs := []string{"-f", filepath.Join(env.helm.ChartDir(), "values-e2e.yaml")}
	for _, f := range cfg.ExtraValues {
		helmArgs = append(helmArgs, "-f", f)
	}
	helmArgs = append(helmArgs, "--set", "image.tag="+cfg.ImageTag)
	if cfg.ReuseCluster {
		// Reuse keeps the cluster, never the release: see ResetNamespace.
		By("removing the release a previous run left on the reused cluster")
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
	By("waiting for the inference Deployment to serve the promoted model")
	framework.WaitForDeploymentReady(ctx, framework.WaitForDeploymentInput{
		Client: env.clientset, Namespace: cfg.Namespace, Name: "inference", MinReady: 2,
		Timeout: RolloutTimeout, Poll: Poll,
	})
	// Ready pods are not yet a programmed Service: kube-proxy adds their
	// endpoints a moment later, and a request through the NodePort in that
	// moment ends in EOF. The areas start once the user's path (host →
	// NodePort → Service) reaches every Ready pod.
	By("waiting for NodePort 30080 to reach every Ready inference pod")
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
				g.Expect(answered).To(HaveKey(p.Name), "Ready pod %s not reached through the NodePort", p.Name)
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
}, NodeTimeout(ClusterUpTimeout+ImagesTimeout+NamespaceResetTimeout+HelmTimeout+PipelineTimeout+2*RolloutTimeout))

// teardownCluster saves diagnostics when anything failed, then deletes the
// cluster unless the user asked to keep it.
func teardownCluster(ctx SpecContext) {
	if env == nil || env.cluster == nil {
		return
	}
	if env.failed || !env.setUp || CurrentSpecReport().Failed() {
		dir := filepath.Join(env.cfg.ArtifactsDir, "diagnostics")
		env.log.Info("saving diagnostics", "dir", dir)
		if env.clientset != nil {
			if err := framework.DumpDiagnostics(ctx, framework.DumpInput{
				Client: env.clientset, Namespaces: []string{env.cfg.Namespace, "kube-system"}, Dir: dir,
			}); err != nil {
				env.log.Warn("some diagnostics were not saved", "err", err)
			}
		}
		if err := env.cluster.ExportLogs(ctx, filepath.Join(dir, "kind")); err != nil {
			env.log.Warn("kind export logs failed", "err", err)
		}
	}
	if env.cfg.KeepCluster {
		env.log.Info("keeping the cluster (E2E_KEEP_CLUSTER)", "name", env.cfg.ClusterName, "kubeconfig", env.cluster.Kubeconfig())
		return
	}
	Expect(cluster.Down(ctx, env.cfg.ClusterName)).To(Succeed())
	// An engine the suite started goes with the cluster; one that was
	// already running is left alone (Stop is a no-op for it).
	if eng := env.cluster.Engine; eng != nil && eng.Started {
		env.log.Info("stopping the Docker engine the suite started", "pid", eng.PID)
		Expect(eng.Stop(ctx)).To(Succeed())
	}
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
