package e2e

import (
	"context"
	"math"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/tracking"
)

var _ = Describe("Training: GRU, LSTM and PROPHET trained and logged", Label("Training"), func() {
	It("has a finished run of each model type for the promoted data version, with metrics and artifact", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		tc := trackingClient()
		runs := finishedRunsByType(ctx, tc, promo.ConfigHash)
		for _, typ := range model.Types {
			run, ok := runs[typ]
			Expect(ok).To(BeTrue(), "no FINISHED %s run for config_hash %s", typ, promo.ConfigHash)
			for _, m := range []string{"rmse", "mae", "mse"} {
				v, ok := run.Metric(m)
				Expect(ok).To(BeTrue(), "%s run %s has no %s", typ, run.Info.RunID, m)
				Expect(math.IsNaN(v) || math.IsInf(v, 0)).To(BeFalse(), "%s %s = %v", typ, m, v)
				Expect(v).To(BeNumerically(">", 0), "%s %s", typ, m)
			}
			files, err := tc.ListArtifacts(ctx, run.Info.RunID, "model")
			Expect(err).NotTo(HaveOccurred())
			var size int64
			for _, f := range files {
				if f.Path == "model/model.json" {
					size = f.FileSize
				}
			}
			Expect(size).To(BeNumerically(">", 0), "%s run %s: model/model.json missing from the object store: %+v", typ, run.Info.RunID, files)
			AddReportEntry(typ+" test metrics", run.Data.Metrics)
		}
	})
})

// trackingClient talks to the in-cluster tracking server through the API proxy.
func trackingClient() *tracking.Client {
	return tracking.NewClient(env.proxy.ServiceURL(env.cfg.Namespace, "tracking", 5000), env.proxy.Client())
}

// currentPromotion reads eval's promotion record, waiting for one.
func currentPromotion(ctx context.Context) framework.Promotion {
	GinkgoHelper()
	var promo framework.Promotion
	Eventually(func(g Gomega) {
		p, found, err := framework.GetPromotion(ctx, env.proxy, env.cfg.Namespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue(), "nothing promoted")
		promo = p
	}).WithContext(ctx).WithTimeout(PipelineTimeout).WithPolling(Poll).Should(Succeed())
	Expect(promo.ConfigHash).NotTo(BeEmpty(), "promotion record without config_hash")
	return promo
}

// finishedRunsByType returns the newest FINISHED run of each model type for configHash.
func finishedRunsByType(ctx context.Context, tc *tracking.Client, configHash string) map[string]tracking.Run {
	GinkgoHelper()
	expID, err := tc.GetOrCreateExperiment(ctx, "flts")
	Expect(err).NotTo(HaveOccurred())
	runs, err := tc.SearchRuns(ctx, []string{expID},
		"tags.config_hash = '"+configHash+"' AND attributes.status = 'FINISHED'",
		[]string{"attributes.start_time DESC"})
	Expect(err).NotTo(HaveOccurred())
	byType := map[string]tracking.Run{}
	for _, r := range runs {
		if _, seen := byType[r.Tag("model_type")]; !seen {
			byType[r.Tag("model_type")] = r
		}
	}
	return byType
}
