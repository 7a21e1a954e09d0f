package e2e

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/score"
)

var _ = Describe("Promotion: eval promotes the best model and inference serves it", Label("Promotion"), func() {
	It("promotes the run with the lowest score, as tracking records it", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		tc := trackingClient()
		runs := finishedRunsByType(ctx, tc, promo.ConfigHash)
		Expect(runs).To(HaveLen(len(model.Types)), "one finished run per model type")

		// Lowest score wins; a tie goes to the newer run, then the larger
		// run id: the order eval sorts its candidates in.
		bestID, bestScore, bestStart := "", math.Inf(1), int64(0)
		for _, typ := range model.Types {
			r := runs[typ]
			m := score.Metrics{}
			for name, dst := range map[string]*float64{"rmse": &m.RMSE, "mae": &m.MAE, "mse": &m.MSE} {
				v, ok := r.Metric(name)
				Expect(ok).To(BeTrue(), "%s run %s has no %s metric", typ, r.Info.RunID, name)
				*dst = v
			}
			s := score.Score(m)
			GinkgoWriter.Printf("%-8s run %s score %.6f start %d\n", typ, r.Info.RunID, s, r.Info.StartTime)
			better := s < bestScore ||
				(s == bestScore && (r.Info.StartTime > bestStart || (r.Info.StartTime == bestStart && r.Info.RunID > bestID)))
			if better {
				bestID, bestScore, bestStart = r.Info.RunID, s, r.Info.StartTime
			}
		}
		Expect(promo.RunID).To(Equal(bestID), "promoted run vs lowest score in tracking")
		Expect(promo.Score).To(BeNumerically("~", bestScore, 1e-9))

		winner, err := tc.GetRun(ctx, promo.RunID)
		Expect(err).NotTo(HaveOccurred())
		Expect(winner.Tag("promoted")).To(Equal("true"))
		Expect(winner.Tag("model_type")).To(Equal(promo.ModelType))
		for _, r := range runs {
			if r.Info.RunID != promo.RunID {
				Expect(r.Tag("promoted")).NotTo(Equal("true"), "run %s is tagged promoted but did not win", r.Info.RunID)
			}
		}
		rmse, ok := winner.Metric("rmse")
		Expect(ok).To(BeTrue(), "winner has no rmse")
		baseline, ok := winner.Metric("baseline_rmse")
		Expect(ok).To(BeTrue(), "winner has no persistence baseline")
		Expect(rmse).To(BeNumerically("<", baseline), "the promoted model must beat persistence")
	})

	It("serves the promoted model from every inference pod", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		checked := expectEveryReplicaServes(ctx, promo.RunID)
		Expect(len(checked)).To(BeNumerically(">=", 2), "the checklist's two replicas, checked: %v", checked)

		p, resp, err := env.inference.Predict(ctx, 1)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Status).To(Equal(200), "body: %s", resp.Body)
		Expect(p.RunID).To(Equal(promo.RunID))
		Expect(p.Predictions).To(HaveLen(1))
		for _, kpi := range dataset.KPIs() {
			v, ok := p.Predictions[0][kpi].(float64)
			Expect(ok).To(BeTrue(), "prediction lacks numeric %q: %v", kpi, p.Predictions[0])
			Expect(math.IsNaN(v) || math.IsInf(v, 0)).To(BeFalse(), "%s = %v", kpi, v)
		}
		Expect(dataset.KPIs()).To(HaveLen(11))
	})
})

// expectEveryReplicaServes waits until every inference replica, Ready or
// not, reports runID on /healthz, and returns the pods that did (as many
// as the Deployment's replicas at least, asserted). Every replica counts:
// a pod that never loads the model fails here, not skipped. Pods are
// checked together, under one budget: a scale-down may remove a pod
// meanwhile, and a pod that went away is no replica (the model-update
// scenario holds such pods to account through their answers).
func expectEveryReplicaServes(ctx context.Context, runID string) []string {
	GinkgoHelper()
	serving := map[string]bool{}
	Eventually(func(g Gomega) {
		// The Deployment's size is read in the same pass as its pods: the
		// HPA may be resizing it meanwhile.
		dep, err := env.clientset.AppsV1().Deployments(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
		g.Expect(err).NotTo(HaveOccurred())
		var lagging []string
		for i := range pods.Items {
			pod := &pods.Items[i]
			// Terminating, finished or evicted pods are no replicas.
			if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || serving[pod.Name] {
				continue
			}
			client := &framework.InferenceClient{BaseURL: env.proxy.PodURL(env.cfg.Namespace, pod.Name, 8000), HTTP: env.proxy.Client()}
			h, resp, err := client.Health(ctx)
			switch {
			case err != nil:
				lagging = append(lagging, fmt.Sprintf("%s: %v", pod.Name, err))
			case resp.Status != http.StatusOK || !h.ModelReady || h.ModelVersion != runID || h.Pod != pod.Name:
				lagging = append(lagging, fmt.Sprintf("%s: status %d, pod %q, model_ready %t, run %q", pod.Name, resp.Status, h.Pod, h.ModelReady, h.ModelVersion))
			default:
				serving[pod.Name] = true
			}
		}
		g.Expect(lagging).To(BeEmpty(), "inference pods not serving run %s", runID)
		g.Expect(len(serving)).To(BeNumerically(">=", int(ptr.Deref(dep.Spec.Replicas, 1))),
			"inference pods that served run %s: %v, the Deployment wants %d", runID, slices.Sorted(maps.Keys(serving)), ptr.Deref(dep.Spec.Replicas, 1))
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	return slices.Sorted(maps.Keys(serving))
}
