package e2e

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/flts/flts-e2e/e2e/framework"
	"github.com/flts/flts-e2e/e2e/framework/report"
)

// loadLevels are the validation report's distributed load tests.
var loadLevels = []int{200, 400, 800}

// MaxThrottledShare bounds the share of 429 answers of any load, a level's
// or a Chaos scenario's. The limiter answers 429 only when every slot and
// the queue of every pod are full; with the HPA adding pods within about
// 20 s, the measured levels throttled none of 16,728 to 66,835 requests
// (2026-11-27), and the Chaos scenarios none of about 15,000 while pods
// went away (2026-11-28). 1 % is a few seconds of one pod's share: room
// for a burst before a scale-up or a replacement, and still a failure for
// a deployment that throttles instead of scaling.
const MaxThrottledShare = 0.01

var _ = Describe("Load: distributed in-cluster load tests at 200, 400 and 800 users", Label("Load"), Ordered, func() {
	var periods framework.Periods

	BeforeAll(func(ctx SpecContext) {
		periods = discoverPeriods(ctx)
	})

	for _, users := range loadLevels {
		It(fmt.Sprintf("serves %d users with no failed request, spreads them over every replica, and scales up and back", users), func(ctx SpecContext) {
			run := observedLoad(ctx, periods, users)
			level := run.levelResult(periods)
			_, err := report.SaveLevel(env.cfg.ArtifactsDir, level)
			Expect(err).NotTo(HaveOccurred())
			path, err := report.Write(env.cfg.ArtifactsDir)
			Expect(err).NotTo(HaveOccurred())
			AddReportEntry(fmt.Sprintf("%d users", users), fmt.Sprintf("rps %.1f p50 %s p95 %s p99 %s failures %d 429 %d peak replicas %d",
				run.Result.Summary.RPS, run.Result.Summary.P50, run.Result.Summary.P95, run.Result.Summary.P99,
				run.Result.Summary.FailureCount(), run.Result.Summary.Throttled429, run.Timings.PeakReplicas))
			GinkgoWriter.Printf("report: %s\n", path)

			// One definition of a level that met the checklist (failure),
			// the same the report shows.
			Expect(level.FailureReason).To(BeEmpty(), "the %d-user level", users)
		})
	}
})
