// Command hpa-exporter serves the HorizontalPodAutoscalers of one namespace
// as Prometheus series on /metrics: spec min/max replicas, status current
// and desired replicas, and every condition.
//
// Why an exporter of our own: kube-state-metrics, which exports these for
// most clusters, is not served by this machine's module proxy, and
// Prometheus' Kubernetes discovery sees pods, not HPA status. The series
// carry kube-state-metrics' names and labels (namespace,
// horizontalpodautoscaler, condition, status), so the chart's alert rules
// and dashboard work unchanged on a cluster that runs kube-state-metrics
// instead: turn monitoring.hpaExporter off there.
//
// The HPAs are listed at scrape time (one namespaced LIST per scrape, a
// handful of objects), so the figures are never older than the scrape and
// the exporter keeps no state.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/httpjson"
)

type options struct {
	listen    string
	namespace string
	timeout   time.Duration
	logLevel  string
}

func main() {
	config.Command[options]{
		Name:  "hpa-exporter",
		Parse: parse,
		Logger: func(o options, stderr io.Writer) *slog.Logger {
			return config.NewLogger(stderr, o.logLevel)
		},
		Run: run,
	}.Main()
}

func parse(args []string, getenv config.Getenv, stderr io.Writer) (options, error) {
	env := config.NewEnv(getenv)
	var o options
	fs := flag.NewFlagSet("hpa-exporter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", ":9100", "address of /metrics and /healthz")
	fs.StringVar(&o.namespace, "namespace", env.String("POD_NAMESPACE", ""), "namespace whose HPAs are exported (env POD_NAMESPACE)")
	// Under the scrape timeout (5 s in e2e): a slow API server then costs
	// list_success 0, not the whole scrape.
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "bound of one scrape's LIST of the HPAs")
	fs.StringVar(&o.logLevel, "log-level", env.String(config.EnvLogLevel, "info"), "debug, info, warn or error (env "+config.EnvLogLevel+")")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if err := env.Err(); err != nil {
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.namespace == "" {
		errs = append(errs, errors.New("--namespace (or POD_NAMESPACE) is required: the exporter reads one namespace's HPAs"))
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port: %w", o.listen, err))
	}
	if _, err := config.ParseLevel(o.logLevel); err != nil {
		errs = append(errs, err)
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be > 0, got %s", o.timeout))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("failed to read the in-cluster API config: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create the API client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{list: func(ctx context.Context) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
		l, err := cs.AutoscalingV2().HorizontalPodAutoscalers(o.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return l.Items, nil
	}, timeout: o.timeout, log: log})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok", "service": "hpa-exporter"})
	})
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("exporting HPAs", "namespace", o.namespace, "listen", o.listen)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server failed: %w", err)
	}
	return nil
}

// kube-state-metrics' series for HPAs (its names and labels).
var (
	hpaLabels   = []string{"namespace", "horizontalpodautoscaler"}
	descMin     = prometheus.NewDesc("kube_horizontalpodautoscaler_spec_min_replicas", "Lower limit for the number of pods that can be set by the autoscaler.", hpaLabels, nil)
	descMax     = prometheus.NewDesc("kube_horizontalpodautoscaler_spec_max_replicas", "Upper limit for the number of pods that can be set by the autoscaler.", hpaLabels, nil)
	descCurrent = prometheus.NewDesc("kube_horizontalpodautoscaler_status_current_replicas", "Current number of replicas of pods managed by this autoscaler.", hpaLabels, nil)
	descDesired = prometheus.NewDesc("kube_horizontalpodautoscaler_status_desired_replicas", "Desired number of replicas of pods managed by this autoscaler.", hpaLabels, nil)
	descCond    = prometheus.NewDesc("kube_horizontalpodautoscaler_status_condition", "The condition of this autoscaler.",
		slices.Concat(hpaLabels, []string{"condition", "status"}), nil)
	// descListOK is the exporter's own: without it, a LIST that fails
	// (RBAC, API server down) would look like "no HPA".
	descListOK = prometheus.NewDesc("flts_hpa_exporter_list_success", "1 if the last scrape listed the HPAs, 0 if the LIST failed.", nil, nil)
)

type collector struct {
	list    func(context.Context) ([]autoscalingv2.HorizontalPodAutoscaler, error)
	timeout time.Duration
	log     *slog.Logger
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMin, descMax, descCurrent, descDesired, descCond, descListOK} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	hpas, err := c.list(ctx)
	if err != nil {
		c.log.Warn("failed to list the HPAs", "error", err)
		ch <- prometheus.MustNewConstMetric(descListOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descListOK, prometheus.GaugeValue, 1)
	for _, h := range hpas {
		l := []string{h.Namespace, h.Name}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
		}
		minReplicas := int32(1) // the API's default
		if h.Spec.MinReplicas != nil {
			minReplicas = *h.Spec.MinReplicas
		}
		gauge(descMin, float64(minReplicas))
		gauge(descMax, float64(h.Spec.MaxReplicas))
		gauge(descCurrent, float64(h.Status.CurrentReplicas))
		gauge(descDesired, float64(h.Status.DesiredReplicas))
		// As kube-state-metrics: one series per possible status, 1 for
		// the one the condition has, so `status="false"` selects directly.
		for _, cond := range h.Status.Conditions {
			for _, s := range []string{"true", "false", "unknown"} {
				v := 0.0
				if strings.EqualFold(string(cond.Status), s) {
					v = 1
				}
				gauge(descCond, v, string(cond.Type), s)
			}
		}
	}
}
