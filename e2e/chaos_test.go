package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/loadtest"
	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/loadgen"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/tracking"
	"github.com/flts/flts-e2e/tools/dataload"
)

const (
	// ChaosUsers is the steady load every Chaos scenario runs under.
	ChaosUsers = 200
	// EvictEvery and EvictFor: an inference pod is evicted every 20 s for
	// 2 minutes.
	EvictEvery = 20 * time.Second
	EvictFor   = 2 * time.Minute
	// ModelUpdateLoad is the load of the model-update scenario: the
	// ramp-up, the upload and preprocessing, the three trainings and eval
	// (promotion 2-10 s after preprocessing here, 2026-11-28), the
	// replicas' switch (event-driven, else their 15 s poll), and
	// SwitchUnderLoad more: about 50 s, doubled.
	ModelUpdateLoad = 2 * time.Minute
	// SwitchUnderLoad: after the last replica switched, the load goes on at
	// least this long, so answers of the new run from every pod are seen.
	SwitchUnderLoad = 15 * time.Second
	// ModelSwitchBudget is how long after a promotion a replica may still
	// answer with the earlier model: two of its current.json polls (15 s,
	// images/inference --poll; the model-selected event usually switches it
	// within a second) and the model's load. Measured: every replica
	// switched 6 s after the upload (2026-11-28).
	ModelSwitchBudget = 2*15*time.Second + 15*time.Second
)

var _ = Describe("Chaos: the checklist holds while pods go away", Label("Chaos"), Ordered, func() {
	var periods framework.Periods
	BeforeAll(func(ctx SpecContext) {
		periods = discoverPeriods(ctx)
	})

	It("serves every request while an inference pod is evicted every 20 s", func(ctx SpecContext) {
		waitForReplicas(ctx, periods, periods.MinReplicas)
		load := startLoad(ctx, EvictFor+2*LoadRampUp)
		// Evictions (not deletions): the PodDisruptionBudget decides, as it
		// would for a node drain. One refused by the budget is retried at
		// the next tick.
		evicted, refused := 0, 0
		minReady := int32(1 << 30)
		deadline := time.Now().Add(LoadRampUp + EvictFor)
		for tick := time.Now().Add(LoadRampUp); tick.Before(deadline); tick = tick.Add(EvictEvery) {
			waitUntil(ctx, tick)
			ready := readyInference(ctx)
			minReady = min(minReady, int32(len(ready)))
			if len(ready) == 0 {
				continue
			}
			err := env.clientset.PolicyV1().Evictions(env.cfg.Namespace).Evict(ctx, &policyv1.Eviction{
				ObjectMeta: metav1.ObjectMeta{Name: ready[0], Namespace: env.cfg.Namespace}})
			switch {
			case err == nil:
				evicted++
				GinkgoWriter.Printf("evicted %s (%d Ready)\n", ready[0], len(ready))
			case apierrors.IsTooManyRequests(err):
				refused++
				GinkgoWriter.Printf("eviction of %s refused by the disruption budget: %v\n", ready[0], err)
			default:
				Fail(fmt.Sprintf("evicting %s: %v", ready[0], err))
			}
		}
		res := load.wait()
		GinkgoWriter.Printf("evicted %d pods (%d refused by the budget), fewest Ready %d\n", evicted, refused, minReady)
		expectServedThrough(res, "evictions")
		Expect(evicted).To(BeNumerically(">=", int(EvictFor/EvictEvery)/2), "pods evicted (the rest refused by the budget)")
		Expect(minReady).To(BeNumerically(">=", 1), "the disruption budget keeps one pod Ready")
	})

	It("serves every request through a rolling restart of the inference Deployment", func(ctx SpecContext) {
		waitForReplicas(ctx, periods, periods.MinReplicas)
		before := readyInference(ctx)
		load := startLoad(ctx, 90*time.Second)
		waitUntil(ctx, time.Now().Add(LoadRampUp))
		// What `kubectl rollout restart` does: a new pod template, so
		// every pod is replaced under the Deployment's rolling strategy.
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"flts.e2e/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
		_, err := env.clientset.AppsV1().Deployments(env.cfg.Namespace).Patch(ctx, "inference", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			d, err := env.clientset.AppsV1().Deployments(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.UpdatedReplicas).To(Equal(d.Status.Replicas), "pods of the new template")
			g.Expect(d.Status.ReadyReplicas).To(Equal(d.Status.Replicas), "Ready pods")
			for _, name := range readyInference(ctx) {
				g.Expect(before).NotTo(ContainElement(name), "pod %s of the old template still Ready", name)
			}
		}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
		expectServedThrough(load.wait(), "the rolling restart")
	})

	It("switches every replica to a newly promoted model under load, never mixing versions in a pod", func(ctx SpecContext) {
		waitForReplicas(ctx, periods, periods.MinReplicas)
		before := currentPromotion(ctx)
		// The load first, the new data once every user runs: the e2e
		// pipeline promotes within seconds of the upload, so an upload
		// before the load would switch the pods during the ramp-up (seen
		// 2026-11-28: 107 answers from the earlier run).
		load := startLoad(ctx, ModelUpdateLoad)
		loadEnds := time.Now().Add(ModelUpdateLoad)
		waitUntil(ctx, time.Now().Add(LoadRampUp))
		uploadNewDataset(ctx)
		uploaded := time.Now()
		promo := waitForNewPromotion(ctx, before)
		By("waiting for every inference replica to serve run " + promo.RunID)
		switched := expectEveryReplicaServes(ctx, promo.RunID)
		GinkgoWriter.Printf("every replica serves the new run %s after the upload\n", time.Since(uploaded).Round(time.Second))
		loadLeft := time.Until(loadEnds)
		res := load.wait()
		expectServedThrough(res, "the model update")
		answers := map[string]int{}
		for _, runs := range res.ServedModels {
			for run, span := range runs {
				answers[run] += span.Answers
			}
		}
		GinkgoWriter.Printf("answers by run: %v\n", answers)
		Expect(answers).To(HaveKeyWithValue(before.RunID, BeNumerically(">", 0)), "answers from the earlier run %s under load: the switch happened before the load", before.RunID)
		Expect(answers).To(HaveKeyWithValue(promo.RunID, BeNumerically(">", 0)), "answers from the promoted run %s", promo.RunID)
		Expect(answers).To(HaveLen(2), "answers from runs other than the earlier and the promoted one")
		Expect(res.MixedModels()).To(BeEmpty(), "a pod answered with the earlier run after it had switched")
		// Per replica: every pod that answered with the earlier run under
		// this load (it was in the Service before the switch) must have
		// answered with the promoted one too. A pod stuck on the earlier
		// model fails here even if a scale-down removed it before the
		// check above could; the pods a scale-up added start on the new
		// run.
		// A pod is held to it only if it still answered with the earlier
		// run for a request sent a switch budget after the promotion: a
		// healthy pod a scale-down removed before its switch is not stuck.
		servedBoth := 0
		for _, pod := range slices.Sorted(maps.Keys(res.ServedModels)) {
			runs := res.ServedModels[pod]
			if runs[before.RunID].Answers == 0 {
				continue
			}
			if runs[promo.RunID].Answers == 0 {
				Expect(runs[before.RunID].LastSent).To(BeTemporally("<", promo.PromotedAt.Add(ModelSwitchBudget)),
					"pod %s answered with the earlier run %s after the promotion and never with the promoted one (%s of load left at the last switch): %v",
					pod, runs[before.RunID].LastSent.Sub(promo.PromotedAt).Round(time.Second), loadLeft.Round(time.Second), runs)
				continue
			}
			servedBoth++
		}
		Expect(servedBoth).To(BeNumerically(">=", int(periods.MinReplicas)), "pods seen answering with both runs (pods that switched: %v)", switched)
		// Last, whether the run could prove it: a switch seen only after
		// the load ended says nothing about requests across it (the
		// answers above would name a pod that never switched first).
		Expect(loadLeft).To(BeNumerically(">=", SwitchUnderLoad),
			"%s of load was left when the last replica switched: the switch was not seen under load (raise ModelUpdateLoad)", loadLeft.Round(time.Second))
	})
})

// A Describe of its own (not Ordered with the load scenarios): it needs
// neither their periods nor their load, and one of them failing must not
// skip it.
var _ = Describe("Chaos: a pipeline run survives its dependencies being replaced", Label("Chaos"), func() {
	// One pipeline run per dependency. The e2e pipeline trains and
	// promotes in about 15 s, less than three replacements take one after
	// the other (6-8 s each), so a single run cannot hold all three: the
	// third came after the promotion and proved nothing (seen 2026-11-28).
	// Each dependency is deleted the moment the new data's preprocessing
	// Job exists: the outage (the pod's grace period, then its
	// replacement's start) overlaps preprocessing, its announcement and
	// the trainings' start. Waiting for the Job to finish first would meet
	// the promotion 2-10 s later, before most replacements could start.
	for _, dep := range []string{"nats", "minio", "tracking"} {
		It(fmt.Sprintf("completes a pipeline run while the %s pod is replaced mid-run", dep), func(ctx SpecContext) {
			before := currentPromotion(ctx)
			dlqBefore := deadLetters(ctx)
			uploadNewDataset(ctx)
			By(fmt.Sprintf("replacing the %s pod during the new data version's run", dep))
			deleted := time.Now()
			_, tookOver := replacePod(ctx, dep)
			promo := waitForNewPromotion(ctx, before)
			// The run began (the upload) before the deletion; it must end
			// after the replacement took over (the old pod gone or the new
			// one serving), or the run never had to reach a new process
			// and proved nothing. promoted_at is eval's clock, the same
			// host clock as ours on kind.
			Expect(promo.PromotedAt).To(BeTemporally(">", tookOver),
				"the new data version was promoted before the %s pod's replacement took over: this run no longer exercises its restart", dep)
			GinkgoWriter.Printf("promoted %s after the %s pod was deleted, %s after its replacement took over\n",
				promo.PromotedAt.Sub(deleted).Round(time.Second), dep, promo.PromotedAt.Sub(tookOver).Round(time.Second))
			expectOnePromotedRunPerType(ctx, promo.ConfigHash)
			Expect(deadLetters(ctx)).To(Equal(dlqBefore), "events dead-lettered during the run")
		})
	}
})

// expectOnePromotedRunPerType waits until the data version's runs are
// settled, then holds them to account: one finished run per model type
// (an outage must resume a run, not start a second) and exactly one
// promoted. The promotion's last step (the tag) may still be retried
// against a new tracking pod, hence the wait.
func expectOnePromotedRunPerType(ctx context.Context, configHash string) {
	GinkgoHelper()
	tc := trackingClient()
	expID, err := tc.GetOrCreateExperiment(ctx, "flts")
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		runs, err := tc.SearchRuns(ctx, []string{expID}, "tags.config_hash = '"+configHash+"'", nil)
		g.Expect(err).NotTo(HaveOccurred())
		perType, promoted := map[string]int{}, 0
		for _, r := range runs {
			g.Expect(r.Info.Status).To(Equal(tracking.StatusFinished), "run %s (%s) of the new data version", r.Info.RunID, r.Tag("model_type"))
			perType[r.Tag("model_type")]++
			if r.Tag("promoted") == "true" {
				promoted++
			}
		}
		for _, typ := range model.Types {
			g.Expect(perType[typ]).To(Equal(1), "%s runs of the new data version", typ)
		}
		g.Expect(promoted).To(Equal(1), "runs tagged promoted=true for the new data version")
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
}

// uploadNewDataset brings a freshly generated dataset (a new data
// version) into the release the way `make dataset` does, and returns once
// its preprocessing Job is created: the run has begun, the promotion
// waits are the caller's.
func uploadNewDataset(ctx context.Context) {
	GinkgoHelper()
	By("bringing a new dataset (a new data version) into the release")
	frame, err := dataset.Generate(dataset.GenerateConfig{Rows: dataset.DefaultRows, Seed: uint64(time.Now().UnixNano())})
	Expect(err).NotTo(HaveOccurred())
	var csv bytes.Buffer
	Expect(dataset.WriteCSV(&csv, frame)).To(Succeed())
	loaded, err := dataload.Load(ctx, dataload.Options{Config: env.klient.RESTConfig(), Namespace: env.cfg.Namespace, CSV: csv.Bytes(), Logger: env.log})
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("dataset sha256 %s, preprocessing Job %s\n", loaded.Digest, loaded.Job)
}

// waitForNewPromotion waits for eval to promote a data version other than
// before's.
func waitForNewPromotion(ctx context.Context, before framework.Promotion) framework.Promotion {
	GinkgoHelper()
	By("waiting for the promotion of the new data version")
	start := time.Now()
	var promo framework.Promotion
	Eventually(func(g Gomega) {
		p, found, err := framework.GetPromotion(ctx, env.proxy, env.cfg.Namespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue())
		g.Expect(p.ConfigHash).NotTo(Equal(before.ConfigHash), "still the promotion of the earlier data version")
		promo = p
	}).WithContext(ctx).WithTimeout(PipelineTimeout).WithPolling(Poll).Should(Succeed())
	GinkgoWriter.Printf("promoted %s (%s) of data version %.12s after %s\n", promo.RunID, promo.ModelType, promo.ConfigHash, time.Since(start).Round(time.Second))
	return promo
}

// deadLetters counts the messages of the DLQ stream, read from NATS'
// monitoring endpoint.
func deadLetters(ctx context.Context) uint64 {
	GinkgoHelper()
	var n uint64
	Eventually(func() error {
		streams, err := readStreams(ctx, storePod(ctx, "nats"))
		n = streams[events.DLQStream]
		return err
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	return n
}

// asyncLoad is a load level running in the background.
type asyncLoad struct {
	done chan struct{}
	res  loadtest.Result
	err  error
}

// startLoad runs ChaosUsers closed-loop users for d from the in-cluster
// workers while the caller breaks things.
func startLoad(ctx context.Context, d time.Duration) *asyncLoad {
	By(fmt.Sprintf("applying %d users for %s", ChaosUsers, d))
	l := &asyncLoad{done: make(chan struct{})}
	name := fmt.Sprintf("chaos-%du-%d", ChaosUsers, time.Now().Unix())
	// A spec that fails early still waits for its load to end (the spec's
	// context is cancelled first, which stops it and deletes its Job).
	DeferCleanup(func() { <-l.done })
	go func() {
		defer GinkgoRecover()
		defer close(l.done)
		l.res, l.err = loadtest.Run(ctx, loadtest.Input{Client: env.clientset, Namespace: env.cfg.Namespace,
			Image: env.cfg.Images.Ref("loadgen", env.cfg.ImageTag), PullPolicy: env.cfg.Images.PullPolicy, Users: ChaosUsers, Workers: LoadWorkers, Duration: d, RampUp: LoadRampUp, Logger: env.log, Name: name})
	}()
	// The caller's schedule (evictions, a restart) counts from the moment
	// the users start, not from the Job's creation: pod start-up takes
	// seconds of the ramp-up otherwise.
	Eventually(func(g Gomega) {
		select {
		case <-l.done:
			// A Job that could not start (an image error, a quota) ends
			// the load: say why now, not after RolloutTimeout.
			StopTrying(fmt.Sprintf("the load ended before its %d workers were seen running (error: %v)", LoadWorkers, l.err)).Now()
		default:
		}
		pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name})
		g.Expect(err).NotTo(HaveOccurred())
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		g.Expect(running).To(Equal(LoadWorkers), "load-generator pods running")
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(time.Second).Should(Succeed())
	return l
}

func (l *asyncLoad) wait() loadgen.Summary {
	GinkgoHelper()
	<-l.done
	Expect(l.err).NotTo(HaveOccurred(), "the load run")
	s := l.res.Summary
	GinkgoWriter.Printf("requests=%d rps=%.1f p95=%s failures=%v 429=%d served_by=%v\n", s.Requests, s.RPS, s.P95, s.Failures, s.Throttled429, s.ServedBy)
	return s
}

// expectServedThrough asserts a load level met the checklist through a
// disruption: no failed request, 429s bounded, answers served.
func expectServedThrough(s loadgen.Summary, what string) {
	GinkgoHelper()
	Expect(s.Requests).To(BeNumerically(">", 0), "no request completed")
	Expect(s.FailureCount()).To(BeZero(), "failed requests through %s: %v (first of each: %v)", what, s.Failures, s.FailureExamples)
	Expect(float64(s.Throttled429)/float64(s.Requests)).To(BeNumerically("<=", MaxThrottledShare),
		"429 share through %s (%d of %d)", what, s.Throttled429, s.Requests)
}

// readyInference lists the Ready inference pods, oldest first.
func readyInference(ctx context.Context) []string {
	GinkgoHelper()
	pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
	Expect(err).NotTo(HaveOccurred())
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if framework.PodReady(&p) {
			ready = append(ready, p)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].CreationTimestamp.Before(&ready[j].CreationTimestamp) })
	names := make([]string, len(ready))
	for i, p := range ready {
		names[i] = p.Name
	}
	return names
}

// waitUntil blocks until t (a schedule, not a synchronisation: the
// scenario's clock) or the spec's end.
func waitUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}
