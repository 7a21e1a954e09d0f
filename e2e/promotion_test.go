package e2e

import (
	"math"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/loadtest"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/score"
)

var _ = Describe("Promotion: eval promotes the best model and inference serves it", Label("Promotion"), func() {
	It("promotes the run with the lowest score, as tracking records it", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		tc := trackingClient()
		runs := finishedRunsByType(ctx, tc, promo.ConfigHash)
		Expect(runs).To(HaveLen(len(model.Types)), "one finished run per model type")

		bestID, bestScore := "", math.Inf(1)
		for _, typ := range model.Types {
			r := runs[typ]
			rmse, _ := r.Metric("rmse")
			mae, _ := r.Metric("mae")
			mse, _ := r.Metric("mse")
			s := score.Score(score.Metrics{RMSE: rmse, MAE: mae, MSE: mse})
			GinkgoWriter.Printf("%-8s run %s score %.6f\n", typ, r.Info.RunID, s)
			// Runs are newest first, so a tie keeps the newer run.
			if s < bestScore {
				bestID, bestScore = r.Info.RunID, s
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
		rmse, _ := winner.Metric("rmse")
		baseline, ok := winner.Metric("baseline_rmse")
		Expect(ok).To(BeTrue(), "winner has no persistence baseline")
		Expect(rmse).To(BeNumerically("<", baseline), "the promoted model must beat persistence")
	})

	It("serves the promoted model from every inference pod", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inference"})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).NotTo(BeEmpty())
		for i := range pods.Items {
			pod := &pods.Items[i]
			if !loadtest.PodReady(pod) {
				continue
			}
			client := &framework.InferenceClient{BaseURL: env.proxy.PodURL(env.cfg.Namespace, pod.Name, 8000), HTTP: env.proxy.Client()}
			Eventually(func(g Gomega) {
				h, resp, err := client.Health(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(resp.Status).To(Equal(200))
				g.Expect(h.ModelReady).To(BeTrue(), "pod %s model_ready", pod.Name)
				g.Expect(h.ModelVersion).To(Equal(promo.RunID), "pod %s serves another run", pod.Name)
				g.Expect(h.Pod).To(Equal(pod.Name))
			}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
		}

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
