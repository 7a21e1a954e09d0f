package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flts/flts-e2e/e2e/framework"
)

var _ = Describe("Persistence: MinIO and NATS keep their data when their pods are replaced", Label("Persistence"), func() {
	It("serves the same promotion and the same streams after both stores restart", func(ctx SpecContext) {
		promo := currentPromotion(ctx)
		ns := env.cfg.Namespace
		for _, claim := range []string{"minio-data", "nats-data"} {
			pvc, err := env.clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred(), "the chart's claim %s", claim)
			Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound), "claim %s", claim)
		}
		before := jetStreamTotals(ctx, storePod(ctx, "nats"))
		Expect(before.Streams).To(BeNumerically(">", 0), "no JetStream stream before the restart")
		Expect(before.Messages).To(BeNumerically(">", 0), "no event stored before the restart")

		By("replacing the MinIO and NATS pods")
		replaced := map[string]string{}
		for _, comp := range []string{"minio", "nats"} {
			replaced[comp], _ = replacePod(ctx, comp)
		}

		By("reading the promotion and the streams back")
		// eval reads current.json from MinIO: an emptyDir would have lost
		// it and the answer would be 404.
		Eventually(func(g Gomega) {
			p, found, err := framework.GetPromotion(ctx, env.proxy, ns)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeTrue(), "the promotion record is gone after MinIO restarted")
			g.Expect(p.RunID).To(Equal(promo.RunID))
			g.Expect(p.ConfigHash).To(Equal(promo.ConfigHash))
		}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
		after := jetStreamTotals(ctx, replaced["nats"])
		Expect(after.Streams).To(Equal(before.Streams), "streams after the NATS restart")
		Expect(after.Messages).To(BeNumerically(">=", before.Messages), "stored events after the NATS restart")
	})
})

// replacePod deletes the one pod of a single-replica component and waits
// until its replacement is Ready; it returns the new pod's name. Pods are
// told apart by UID: a StatefulSet's replacement has the old one's name.
// It returns the new pod's name and when the replacement was first seen
// taking over: the old pod gone, or the new one Ready, whichever came
// first (within a poll of it). From then on, clients had to reach a new
// process.
func replacePod(ctx context.Context, component string) (string, time.Time) {
	GinkgoHelper()
	was := onePod(ctx, component)
	Expect(env.clientset.CoreV1().Pods(env.cfg.Namespace).Delete(ctx, was.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &was.UID}})).To(Succeed())
	var now string
	var tookOver time.Time
	Eventually(func(g Gomega) {
		pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + component})
		g.Expect(err).NotTo(HaveOccurred())
		var ready []string
		oldThere := false
		for i := range pods.Items {
			p := &pods.Items[i]
			oldThere = oldThere || p.UID == was.UID
			if p.UID != was.UID && framework.PodReady(p) {
				ready = append(ready, p.Name)
			}
		}
		if tookOver.IsZero() && (!oldThere || len(ready) > 0) {
			tookOver = time.Now()
		}
		g.Expect(ready).To(HaveLen(1), "one new Ready %s pod", component)
		now = ready[0]
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	GinkgoWriter.Printf("%s: pod %s (uid %s) replaced by %s, taking over at %s\n", component, was.Name, was.UID, now, tookOver.Format(time.RFC3339))
	return now, tookOver
}

// storePod returns the name of the one running pod of a component.
func storePod(ctx context.Context, component string) string {
	GinkgoHelper()
	return onePod(ctx, component).Name
}

func onePod(ctx context.Context, component string) corev1.Pod {
	GinkgoHelper()
	pods, err := env.clientset.CoreV1().Pods(env.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + component})
	Expect(err).NotTo(HaveOccurred())
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	Expect(live).To(HaveLen(1), "%s pods", component)
	return live[0]
}

// jszTotals are the server-wide JetStream figures of NATS' monitoring
// endpoint (/jsz on :8222).
type jszTotals struct {
	Streams  int    `json:"streams"`
	Messages uint64 `json:"messages"`
}

// jetStreamTotals reads pod's /jsz through the API server's proxy.
func jetStreamTotals(ctx context.Context, pod string) jszTotals {
	GinkgoHelper()
	var t jszTotals
	Eventually(func() (err error) {
		t, err = readJSZ(ctx, pod)
		return err
	}).WithContext(ctx).WithTimeout(RolloutTimeout).WithPolling(Poll).Should(Succeed())
	return t
}

func readJSZ(ctx context.Context, pod string) (jszTotals, error) {
	var t jszTotals
	return t, getJSZ(ctx, pod, "", &t)
}

// readStreams returns the message count of every JetStream stream.
func readStreams(ctx context.Context, pod string) (map[string]uint64, error) {
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					Messages uint64 `json:"messages"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := getJSZ(ctx, pod, "?accounts=true&streams=true", &jsz); err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			out[s.Name] = s.State.Messages
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/jsz of %s lists no stream", pod)
	}
	return out, nil
}

// getJSZ decodes NATS' /jsz (with query) from pod through the API proxy.
func getJSZ(ctx context.Context, pod, query string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.proxy.PodURL(env.cfg.Namespace, pod, 8222)+"/jsz"+query, nil)
	if err != nil {
		return err
	}
	resp, err := env.proxy.Client().Do(req)
	if err != nil {
		return fmt.Errorf("failed to get /jsz of %s: %w", pod, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /jsz of %s: HTTP %d: %s", pod, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("failed to decode /jsz of %s: %w", pod, err)
	}
	return nil
}
