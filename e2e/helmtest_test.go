package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("HelmTest: the chart's own test hook passes", Label("HelmTest"), func() {
	It("passes helm test with the project's image", func(ctx SpecContext) {
		Expect(env.helm.Test(ctx, HelmTimeout)).To(Succeed())
	})
})
