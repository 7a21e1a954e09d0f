package e2e

import (
	"context"
	"math"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// not, reports runID on /healthz, and returns the pods it checked (as many
// as the Deployment's replicas at least, asserted). Every replica
// counts: a pod that never loads the model must fail here, not be
// skipped. Pods already terminating (a scale-down) are not replicas.
func expectEveryReplicaServes(ctx context.Context, runID string) []string {
	GinkgoHelper()
	pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
	Expect(err).NotTo(HaveOccurred())
	var checked []string
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		client := &framework.InferenceClient{BaseURL: env.proxy.PodURL(env.cfg.Namespace, pod.Name, 8000), HTTP: env.proxy.Client()}
		gone := false
		Eventually(func(g Gomega) {
			// A scale-down may remove the pod while it is checked: a
			// replica that went away is not one that lacks the model.
			cur, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && cur.DeletionTimestamp != nil) {
				gone = true
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			h, resp, err := client.Health(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resp.Status).To(Equal(200))
			g.Expect(h.ModelReady).To(BeTrue(), "pod %s model_ready", pod.Name)
			g.Expect(h.ModelVersion).To(Equal(runID), "pod %s serves another run", pod.Name)
			g.Expect(h.Pod).To(Equal(pod.Name))
		}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
		if !gone {
			checked = append(checked, pod.Name)
		}
	}
	dep, err := env.clientset.AppsV1().Deployments(env.cfg.Namespace).Get(ctx, "inference", metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(len(checked)).To(BeNumerically(">=", int(ptr.Deref(dep.Spec.Replicas, 1))),
		"checked inference pods %v, the Deployment wants %d", checked, ptr.Deref(dep.Spec.Replicas, 1))
	return checked
}
