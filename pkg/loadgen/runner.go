package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Mix names.
const (
	// MixPredict sends only POST /predict {"inference_length":1}, as the
	// original's Locust users did.
	MixPredict = "predict"
	// MixMixed is the original's older mix: 80 % predict, 10 % /healthz,
	// 10 % /ready.
	MixMixed = "mixed"
)

// ModelRunHeader is the inference server's header naming the model run
// that computed an answer (pkg/inference.ModelRunHeader; a test keeps them
// equal without linking the server into the generator).
const ModelRunHeader = "X-Model-Run-Id"

// predictBody is what the original's users sent.
var predictBody = []byte(`{"inference_length":1}`)

// Config describes one closed-loop run.
type Config struct {
	// URL is the predict endpoint (http://inference:8000/predict); /healthz
	// and /ready are resolved next to it. A URL without /predict is taken as
	// the base.
	URL      string
	Users    int
	Duration time.Duration // whole run, ramp-up included
	RampUp   time.Duration // user i starts at i*RampUp/Users
	ThinkMin time.Duration // default 1 s
	ThinkMax time.Duration // default 2 s
	Mix      string        // MixPredict (default) or MixMixed
	Timeout  time.Duration // per request, default 30 s
	// MaxRequests stops the run after this many requests (0 = no bound).
	MaxRequests int
	// Reconnect closes idle keep-alive connections this often (default
	// 10 s) so that pods added by the HPA receive traffic; a Service only
	// balances new connections.
	Reconnect time.Duration
	// Progress is the interval of progress log lines (default 5 s).
	Progress time.Duration
	// Seed makes think times and the endpoint mix reproducible.
	Seed uint64
}

// Option changes how Run works.
type Option func(*runner)

// WithLogger sets the logger for progress lines (default: silent).
func WithLogger(l *slog.Logger) Option {
	return func(r *runner) {
		if l != nil {
			r.log = l
		}
	}
}

// WithHTTPClient replaces the HTTP client (default: one sized for the users).
func WithHTTPClient(c *http.Client) Option {
	return func(r *runner) { r.client = c }
}

// WithStop ends the run early, as if its duration had passed, once stop
// is closed: requests in flight complete and count. For a load that must
// last until something happens rather than for a fixed time.
func WithStop(stop <-chan struct{}) Option {
	return func(r *runner) { r.stop = stop }
}

// withSleep replaces waiting so tests can see ramp-up and think delays.
func withSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(r *runner) { r.sleep = f }
}

type endpoint struct {
	name   string
	method string
	url    string
	body   []byte
	weight int
}

type runner struct {
	cfg       Config
	log       *slog.Logger
	client    *http.Client
	sleep     func(ctx context.Context, d time.Duration) error
	endpoints []endpoint
	rec       *recorder
	stop      <-chan struct{} // see WithStop
	started   atomic.Int64    // requests reserved against MaxRequests
	active    atomic.Int64    // users running
}

// Validate checks the configuration and fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url is required"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q is not an http(s) URL", c.URL))
	}
	if c.Users <= 0 {
		errs = append(errs, fmt.Errorf("users must be > 0, got %d", c.Users))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be > 0, got %s", c.Duration))
	}
	if c.RampUp < 0 || (c.Duration > 0 && c.RampUp >= c.Duration) {
		errs = append(errs, fmt.Errorf("ramp-up must be >= 0 and shorter than the duration, got %s", c.RampUp))
	}
	if c.ThinkMin == 0 && c.ThinkMax == 0 {
		c.ThinkMin, c.ThinkMax = time.Second, 2*time.Second
	}
	if c.ThinkMin < 0 || c.ThinkMax < c.ThinkMin {
		errs = append(errs, fmt.Errorf("think time must satisfy 0 <= min <= max, got %s..%s", c.ThinkMin, c.ThinkMax))
	}
	if c.Mix == "" {
		c.Mix = MixPredict
	}
	if c.Mix != MixPredict && c.Mix != MixMixed {
		errs = append(errs, fmt.Errorf("mix must be %q or %q, got %q", MixPredict, MixMixed, c.Mix))
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must be > 0, got %s", c.Timeout))
	}
	if c.MaxRequests < 0 {
		errs = append(errs, fmt.Errorf("max requests must be >= 0, got %d", c.MaxRequests))
	}
	if c.Reconnect == 0 {
		c.Reconnect = 10 * time.Second
	}
	if c.Progress <= 0 {
		c.Progress = 5 * time.Second
	}
	return errors.Join(errs...)
}

func endpointsFor(rawURL, mix string) []endpoint {
	u, _ := url.Parse(rawURL) // validated before
	base := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/predict")
	at := func(p string) string {
		c := *u
		c.Path = base + p
		return c.String()
	}
	predict := endpoint{name: "predict", method: http.MethodPost, url: at("/predict"), body: predictBody, weight: 100}
	if mix == MixMixed {
		predict.weight = 80
		return []endpoint{predict,
			{name: "healthz", method: http.MethodGet, url: at("/healthz"), weight: 10},
			{name: "ready", method: http.MethodGet, url: at("/ready"), weight: 10}}
	}
	return []endpoint{predict}
}

// IdleConnTimeout closes a pooled connection idle this long. It is below
// the inference server's drain delay (5 s): a pod told to stop answers
// "Connection: close" to every request it still gets, and closes the
// connections that stayed idle only after that delay; a client that drops
// its own idle ones sooner never sends a request into a connection the
// server is closing (HTTP/1.1 keep-alive gives no other way to avoid that
// race). The same rule as for a load balancer's idle timeout against its
// backends' keep-alive.
const IdleConnTimeout = 4 * time.Second

// NewHTTPClient returns a client with a connection pool sized for users.
func NewHTTPClient(users int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // load goes straight to the target, never via a proxy
			DialContext:         (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        users + 16,
			MaxIdleConnsPerHost: users + 16,
			IdleConnTimeout:     IdleConnTimeout,
		},
		// A redirect would send load somewhere else: report it as is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run drives cfg.Users closed-loop users against cfg.URL until the duration
// has passed (or MaxRequests were sent, or ctx ends) and returns what they
// saw. Requests in flight at the end are waited for (bounded by Timeout).
func Run(ctx context.Context, cfg Config, opts ...Option) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, fmt.Errorf("failed to validate load config: %w", err)
	}
	r := &runner{cfg: cfg, log: slog.New(slog.DiscardHandler), sleep: sleepCtx,
		endpoints: endpointsFor(cfg.URL, cfg.Mix)}
	for _, o := range opts {
		o(r)
	}
	if r.client == nil {
		r.client = NewHTTPClient(cfg.Users, cfg.Timeout)
	}
	start := time.Now()
	r.rec = newRecorder()
	// stopCtx ends the issuing of new requests; requests use ctx so that
	// the ones in flight at the deadline still complete and count.
	stopCtx, stop := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer stop()
	if r.stop != nil {
		go func() {
			select {
			case <-r.stop:
				stop()
			case <-stopCtx.Done():
			}
		}()
	}

	var wg sync.WaitGroup
	for i := range cfg.Users {
		delay := time.Duration(int64(cfg.RampUp) * int64(i) / int64(cfg.Users))
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
		wg.Go(func() { r.user(ctx, stopCtx, delay, rng) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r.background(stopCtx, done, start)
	<-done
	if t, ok := r.client.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	end := time.Now()
	s := r.rec.summary()
	s.Model, s.Target, s.Mix, s.Users = ModelClosedLoop, cfg.URL, cfg.Mix, cfg.Users
	s.Start, s.End = start.UTC(), end.UTC()
	s.finish()
	r.log.Info("load run finished", "users", cfg.Users, "requests", s.Requests, "rps", fmt.Sprintf("%.1f", s.RPS),
		"failures", s.FailureCount(), "throttled_429", s.Throttled429, "p95", s.P95.String())
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("load run interrupted: %w", err)
	}
	return s, nil
}

// background logs progress and recycles idle connections until done.
func (r *runner) background(stopCtx context.Context, done <-chan struct{}, start time.Time) {
	progress := time.NewTicker(r.cfg.Progress)
	defer progress.Stop()
	reconnect := time.NewTicker(r.cfg.Reconnect)
	defer reconnect.Stop()
	lastN, lastT := 0, start
	for {
		select {
		case <-done:
			return
		case <-reconnect.C:
			if t, ok := r.client.Transport.(interface{ CloseIdleConnections() }); ok {
				t.CloseIdleConnections()
			}
		case now := <-progress.C:
			n, fails := r.rec.counts()
			rps := float64(n-lastN) / now.Sub(lastT).Seconds()
			lastN, lastT = n, now
			r.log.Info("load progress", "elapsed", now.Sub(start).Round(time.Second).String(),
				"users_active", r.active.Load(), "requests", n, "rps", fmt.Sprintf("%.1f", rps), "failures", fails,
				"stopping", stopCtx.Err() != nil)
		}
	}
}

func (r *runner) user(ctx, stopCtx context.Context, delay time.Duration, rng *rand.Rand) {
	if delay > 0 && r.sleep(stopCtx, delay) != nil {
		return
	}
	r.active.Add(1)
	defer r.active.Add(-1)
	for stopCtx.Err() == nil {
		if r.cfg.MaxRequests > 0 && r.started.Add(1) > int64(r.cfg.MaxRequests) {
			return
		}
		r.do(ctx, r.pick(rng))
		if ctx.Err() != nil {
			return
		}
		think := r.cfg.ThinkMin
		if span := r.cfg.ThinkMax - r.cfg.ThinkMin; span > 0 {
			think += time.Duration(rng.Int64N(int64(span) + 1))
		}
		if r.sleep(stopCtx, think) != nil {
			return
		}
	}
}

func (r *runner) pick(rng *rand.Rand) endpoint {
	if len(r.endpoints) == 1 {
		return r.endpoints[0]
	}
	total := 0
	for _, e := range r.endpoints {
		total += e.weight
	}
	n := rng.IntN(total)
	for _, e := range r.endpoints {
		if n < e.weight {
			return e
		}
		n -= e.weight
	}
	return r.endpoints[0]
}

func (r *runner) do(ctx context.Context, e endpoint) {
	var body io.Reader
	if e.body != nil {
		body = bytes.NewReader(e.body)
	}
	req, err := http.NewRequestWithContext(ctx, e.method, e.url, body)
	if err != nil {
		r.rec.record(time.Now(), 0, outcome{failure: "other"})
		return
	}
	if e.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err == nil {
		// Read the whole answer: the latency a user sees ends with the body,
		// and a drained body lets the connection be reused.
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	elapsed := time.Since(t0)
	if err != nil && ctx.Err() != nil {
		return // the caller gave up; not something the server did
	}
	r.rec.record(t0.Add(elapsed), elapsed, classify(resp, err))
}

type outcome struct {
	failure   string // "" when not a failure
	detail    string // the error or status behind a failure
	throttled bool
	servedBy  string
	modelRun  string
}

// classify maps a response or error onto the Summary's causes.
func classify(resp *http.Response, err error) outcome {
	o := classifyCause(resp, err)
	if o.failure != "" {
		if err != nil {
			o.detail = err.Error()
		} else {
			o.detail = resp.Status
		}
	}
	return o
}

func classifyCause(resp *http.Response, err error) outcome {
	if err != nil {
		var nerr net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
			return outcome{failure: "timeout"}
		case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
			errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
			return outcome{failure: "connection"}
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return outcome{failure: "connection"}
		}
		return outcome{failure: "other"}
	}
	o := outcome{servedBy: resp.Header.Get("X-Served-By"), modelRun: resp.Header.Get(ModelRunHeader)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		o.throttled = true
	case resp.StatusCode >= 500:
		o.failure = fmt.Sprintf("http_5xx:%d", resp.StatusCode)
	case resp.StatusCode >= 400:
		o.failure = fmt.Sprintf("http_4xx:%d", resp.StatusCode)
	case resp.StatusCode >= 300:
		o.failure = fmt.Sprintf("http_3xx:%d", resp.StatusCode)
	}
	return o
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// recorder aggregates outcomes; one mutex is plenty at the request rates
// of a closed-loop generator with seconds of think time.
type recorder struct {
	mu      sync.Mutex
	s       Summary
	seconds map[int64]*Second
	order   []int64
}

func newRecorder() *recorder {
	return &recorder{s: Summary{Failures: map[string]int{}, ServedBy: map[string]int{}}, seconds: map[int64]*Second{}}
}

// record counts one request completed at `at`. Latency is recorded for
// every request (failed ones too), as Locust does.
func (r *recorder) record(at time.Time, latency time.Duration, o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := at.Unix()
	sec, ok := r.seconds[key]
	if !ok {
		sec = &Second{T: time.Unix(key, 0).UTC()}
		r.seconds[key] = sec
		r.order = append(r.order, key)
	}
	r.s.Requests++
	sec.Requests++
	r.s.Histogram.Record(latency)
	sec.Histogram.Record(latency)
	switch {
	case o.failure != "":
		r.s.Failures[o.failure]++
		sec.Failures++
		if _, ok := r.s.FailureExamples[o.failure]; !ok && o.detail != "" {
			if r.s.FailureExamples == nil {
				r.s.FailureExamples = map[string]string{}
			}
			r.s.FailureExamples[o.failure] = at.UTC().Format(time.RFC3339Nano) + " " + o.detail
		}
	case o.throttled:
		r.s.Throttled429++
		sec.Throttled++
	default:
		r.s.Successes++
		// Only a successful answer counts as served: a pod that throttles
		// or fails everything still sets X-Served-By, but serves nothing.
		if o.servedBy != "" {
			r.s.ServedBy[o.servedBy]++
		}
		if o.servedBy != "" && o.modelRun != "" {
			r.s.addModelSpan(o.servedBy, o.modelRun, ModelSpan{Answers: 1, FirstAnswered: at, LastSent: at.Add(-latency)})
		}
	}
}

func (r *recorder) counts() (requests, failures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.Requests, r.s.FailureCount()
}

func (r *recorder) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	// Merge of one part sorts the timeline and deep-copies the maps.
	s.Timeline = make([]Second, 0, len(r.order))
	for _, k := range r.order {
		s.Timeline = append(s.Timeline, *r.seconds[k])
	}
	return Merge(s)
}
