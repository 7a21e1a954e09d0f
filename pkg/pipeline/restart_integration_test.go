//go:build integration

package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/objstore/objstoretest"
	"github.com/flts/flts-e2e/pkg/objstore/s3store"
	"github.com/flts/flts-e2e/pkg/preprocess"
	"github.com/flts/flts-e2e/pkg/score"
	"github.com/flts/flts-e2e/pkg/testlog"
	"github.com/flts/flts-e2e/pkg/tracking"
	trackingserver "github.com/flts/flts-e2e/pkg/tracking/server"
)

// These tests run the pipeline as the cluster does — a real MinIO (the
// binary named by FLTS_MINIO_BIN), the tracking server over HTTP with its
// state in that MinIO, a NATS JetStream broker with a store directory, and
// one set of connections per binary (three trainers, eval, preprocess) —
// and restart one dependency at a chosen point of a run. Each asserts that
// the run completes as if nothing happened and reports how long the
// recovery took (t.Logf, and a TSV line in $FLTS_FIGURES_DIR when set).

// FiguresDirEnv names the directory the recovery figures are appended to.
const FiguresDirEnv = "FLTS_FIGURES_DIR"

// setupBudget bounds everything before the outage: starting the servers
// and a preprocessing and training on the small data set, under -race on
// a busy two-core machine.
const setupBudget = 2 * time.Minute

// recoveryBudget bounds the wait for the pipeline once the dependency is
// back: a message whose retries grew to the redelivery cap waits out one
// more cap, a nak lost with the connection waits out the ack wait, and a
// delivery that still fails while the dependency warms up costs another
// cap. Nothing slower is a recovery.
const recoveryBudget = 3*events.DefaultMaxRetryDelay + events.DefaultAckWait

// Each outage lasts until the pipeline has visibly met it several times —
// failed deliveries, or failed reconnects — as during a restart that takes
// seconds: the redelivery delays have grown past their first step (1 s,
// 2 s, 4 s, …), so the recovery figures include the backoff a real outage
// leaves behind, and the test never brings back a dependency nobody used.
const (
	trainFailuresPerTrainer = 2 // object store: failed deliveries of each training-data message
	evalFailuresPerEvent    = 3 // tracking server: failed deliveries of one model-training message
	reconnectFailures       = 2 // broker: failed reconnect attempts of a client
)

// restartMetrics are the test scores of the fake trainings: GRU wins.
var restartMetrics = map[string]score.Metrics{
	model.TypeGRU:     {RMSE: 0.05, MAE: 0.04, MSE: 0.003},
	model.TypeLSTM:    {RMSE: 0.06, MAE: 0.05, MSE: 0.004},
	model.TypeProphet: {RMSE: 0.07, MAE: 0.05, MSE: 0.005},
}

// TestRestartObjectStoreDuringTraining stops MinIO while the three
// trainings are in progress: each then fails on the store (the model
// upload, and the tracking server's own state), and is retried with
// backoff until MinIO, started again on the same data directory, answers.
func TestRestartObjectStoreDuringTraining(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), setupBudget)
	defer cancel()
	training := newGate()
	c.startTrainers(ctx, training)
	c.startEval(ctx, evalWiring{})
	hash := c.preprocess(ctx, smallData)
	training.waitEntered(ctx, t, len(model.Types), "the three trainings to start")

	outage := time.Now()
	c.minio.Stop()
	training.open()
	// The trainings fail on the artifact upload, their redeliveries on
	// the tracking server, whose state is in the missing store too.
	c.returns.wait(ctx, t, "each trainer to fail on the missing store", func(rs []handlerReturn) bool {
		for _, mt := range model.Types {
			if failures(rs, "train-"+strings.ToLower(mt)) < trainFailuresPerTrainer {
				return false
			}
		}
		return true
	})
	c.minio.Start()
	c.complete(hash, "object store", outage, time.Now())
}

// TestRestartBrokerBetweenTrainAndEval stops NATS once the three trainings
// have announced their runs and before eval has handled any: eval then
// promotes while the broker is down, its announcement waits for the
// broker, and every consumer resumes on the restarted broker (same port,
// same store directory).
func TestRestartBrokerBetweenTrainAndEval(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), setupBudget)
	defer cancel()
	evaluating := newGate()
	announcing := make(chan struct{}, 16)
	c.startTrainers(ctx, nil)
	c.startEval(ctx, evalWiring{hold: evaluating, publisher: func(pub Publisher) Publisher {
		return &observedPublisher{Publisher: pub, topic: events.TopicModelSelected, attempts: announcing}
	}})
	hash := c.preprocess(ctx, smallData)
	c.returns.wait(ctx, t, "the three trainings to be announced", func(rs []handlerReturn) bool {
		return countConsumers(rs, func(r handlerReturn) bool { return strings.HasPrefix(r.consumer, "train-") && r.err == nil }) == len(model.Types)
	})
	evaluating.waitEntered(ctx, t, 1, "eval to receive its first model-training event")

	outage := time.Now()
	c.nats.Stop()
	evaluating.open()
	select {
	case <-announcing:
	case <-ctx.Done():
		t.Fatal("gave up waiting for eval to announce the promotion while the broker is down")
	}
	// The test's own connection retries on the schedule of the
	// pipeline's (every second): theirs have failed too.
	for range reconnectFailures {
		select {
		case <-c.reconnectFailed:
		case <-ctx.Done():
			t.Fatal("gave up waiting for a failed reconnect to the stopped broker")
		}
	}
	c.nats.Start()
	c.complete(hash, "broker", outage, time.Now())

	// The trainers were idle through the restart: a next data version
	// shows that their consumers resumed on the restarted broker too.
	ctx, cancel = context.WithTimeout(t.Context(), recoveryBudget)
	defer cancel()
	nextData := smallData
	nextData.Config.Window++
	next := c.preprocess(ctx, nextData)
	promoted := c.waitPromotion(ctx, next, "the promotion of the next data version")
	c.settle(ctx, next, promoted.promoted)
}

// TestRestartTrackingDuringEval stops the tracking server while eval
// evaluates the three finished runs, at two points: before eval reads the
// runs (nothing written yet), and between writing current.json and tagging
// the winner promoted=true (a promotion half done, which the redelivery
// must finish, not repeat). The server restarts on the same address and
// the same store, as a new process.
func TestRestartTrackingDuringEval(t *testing.T) {
	for _, tc := range []struct {
		name string
		call string // the eval tracking call the outage hits
	}{
		{"BeforeReadingTheRuns", "GetOrCreateExperiment"},
		{"WhileTaggingTheWinner", "SetTag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t)
			ctx, cancel := context.WithTimeout(t.Context(), setupBudget)
			defer cancel()
			calling := newGate()
			c.startTrainers(ctx, nil)
			hash := c.preprocess(ctx, smallData)
			c.returns.wait(ctx, t, "the three trainings to be announced", func(rs []handlerReturn) bool {
				return countConsumers(rs, func(r handlerReturn) bool { return strings.HasPrefix(r.consumer, "train-") && r.err == nil }) == len(model.Types)
			})
			// Eval starts once the runs are announced (its durable consumer
			// then finds the three events), so its first evaluation is the
			// one that promotes and the outage hits exactly that one.
			c.startEval(ctx, evalWiring{tracker: func(tr Tracker) Tracker {
				return &gatedTracker{Tracker: tr, call: tc.call, gate: calling}
			}})
			calling.waitEntered(ctx, t, 1, "eval's "+tc.call+" call")

			outage := time.Now()
			c.tracking.Stop()
			calling.open()
			c.returns.wait(ctx, t, "eval to fail on the missing tracking server", func(rs []handlerReturn) bool {
				perEvent := map[string]int{}
				for _, r := range rs {
					if r.consumer == "eval" && r.err != nil {
						perEvent[r.event]++
					}
				}
				for _, n := range perEvent {
					if n >= evalFailuresPerEvent {
						return true
					}
				}
				return false
			})
			c.tracking.Start()
			c.complete(hash, "tracking server ("+tc.call+")", outage, time.Now())
		})
	}
}

// cluster is the pipeline's dependencies and consumers in this process.
type cluster struct {
	t        *testing.T
	log      *slog.Logger
	minio    *objstoretest.MinIOServer
	nats     *natsServer
	tracking *trackingServer
	cfg      config.Common
	// admin is the test's own connections: it preprocesses (as the
	// preprocess Job does) and reads the outcome.
	admin *Conns
	js    jetstream.JetStream // stream and consumer state, for the checks
	// reconnectFailed receives each failed reconnect of the test's own
	// NATS connection (non-blocking: extra ones are dropped).
	reconnectFailed chan struct{}
	returns         *returns
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	log := testlog.New(t)
	c := &cluster{t: t, log: log, returns: newReturns(), reconnectFailed: make(chan struct{}, 16)}
	c.minio = objstoretest.StartMinIOServer(t)
	trackingStore, err := s3store.New(s3store.Config{Endpoint: c.minio.Endpoint, AccessKey: c.minio.AccessKey,
		SecretKey: c.minio.SecretKey}, log.With("binary", "tracking"))
	if err != nil {
		t.Fatal(err)
	}
	c.tracking = startTracking(t, trackingStore, log.With("binary", "tracking"))
	c.nats = startNATS(t)
	c.cfg = config.Common{NATSURL: c.nats.url, S3Endpoint: c.minio.Endpoint, S3AccessKey: c.minio.AccessKey,
		S3SecretKey: c.minio.SecretKey, TrackingURL: "http://" + c.tracking.addr,
		StreamMaxBytes: config.DefaultStreamMaxBytes, StreamMaxAge: config.DefaultStreamMaxAge}
	c.admin = c.connect("preprocess")

	nc, err := nats.Connect(c.nats.url, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.ReconnectErrHandler(func(*nats.Conn, error) {
			select {
			case c.reconnectFailed <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// connect opens the connections of one binary, as its main does.
func (c *cluster) connect(binary string) *Conns {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), setupBudget)
	defer cancel()
	conns, err := Connect(ctx, c.cfg, Need{Store: true, Bus: true, Tracker: true}, c.log.With("binary", binary),
		events.WithClientName(binary))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(conns.Close)
	return conns
}

// startTrainers runs one train consumer per model type, each with its own
// connections, handling events as images/train does. A non-nil hold keeps
// every training in progress until it is opened.
func (c *cluster) startTrainers(ctx context.Context, hold *gate) {
	c.t.Helper()
	for _, mt := range model.Types {
		consumer := "train-" + strings.ToLower(mt)
		conns := c.connect(consumer)
		deps := Deps{Store: conns.Store, Events: conns.Bus, Tracker: conns.Tracker, Logger: c.log.With("binary", consumer)}
		cfg := TrainConfig{ModelType: mt, Train: heldTrainer(hold)}
		c.subscribe(ctx, conns, events.TopicTrainingData, consumer, func(ctx context.Context, ev events.Event) error {
			res, err := Train(ctx, deps, cfg, ev)
			c.returns.add(handlerReturn{consumer: consumer, event: ev.Operation, err: err, runID: res.RunID})
			if errors.Is(err, ErrModelFailed) {
				return nil // recorded as a FAILED run; a redelivery would fail alike
			}
			return err
		})
	}
}

// evalWiring is where a test steps into eval; the zero value is eval as
// the cluster runs it.
type evalWiring struct {
	hold      *gate                     // non-nil: each evaluation waits until it opens
	publisher func(Publisher) Publisher // non-nil: wraps eval's publisher
	tracker   func(Tracker) Tracker     // non-nil: wraps eval's tracking client
}

// startEval runs eval's consumer with its own connections, handling
// events as images/eval does.
func (c *cluster) startEval(ctx context.Context, w evalWiring) {
	c.t.Helper()
	conns := c.connect("eval")
	deps := Deps{Store: conns.Store, Events: conns.Bus, Tracker: conns.Tracker, Logger: c.log.With("binary", "eval")}
	if w.publisher != nil {
		deps.Events = w.publisher(deps.Events)
	}
	if w.tracker != nil {
		deps.Tracker = w.tracker(deps.Tracker)
	}
	ev := &Evaluator{Deps: deps}
	c.subscribe(ctx, conns, events.TopicModelTraining, "eval", func(ctx context.Context, e events.Event) error {
		if w.hold != nil {
			if err := w.hold.pass(ctx); err != nil {
				return err
			}
		}
		res, err := ev.Evaluate(ctx, e)
		c.returns.add(handlerReturn{consumer: "eval", event: e.Operation, err: err, promoted: res.Promoted})
		return err
	})
}

// subscribe starts a consumer that runs until the test ends (ctx bounds
// only its creation).
func (c *cluster) subscribe(ctx context.Context, conns *Conns, topic, consumer string, h events.Handler) {
	c.t.Helper()
	if err := ctx.Err(); err != nil {
		c.t.Fatalf("failed to start %s: %v", consumer, err)
	}
	sub, err := conns.Bus.Start(c.t.Context(), topic, consumer, h)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(sub.Stop)
}

// preprocess processes the small data set with cfg and announces it, as
// the preprocess Job does; it returns the data version.
func (c *cluster) preprocess(ctx context.Context, cfg PreprocessConfig) string {
	c.t.Helper()
	deps := Deps{Store: c.admin.Store, Events: c.admin.Bus, Logger: c.log.With("binary", "preprocess")}
	res, err := Preprocess(ctx, deps, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.ConfigHash
}

// complete waits for the promotion of data version hash once the
// dependency is back, reports the recovery, then settles.
func (c *cluster) complete(hash, dependency string, outage, back time.Time) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), recoveryBudget)
	defer cancel()
	promoted := c.waitPromotion(ctx, hash, "the promotion after the "+dependency+" came back")
	rec := recovery{Test: t.Name(), Dependency: dependency, Outage: back.Sub(outage),
		BackToPromotion: promoted.at.Sub(back), OutageToPromotion: promoted.at.Sub(outage)}
	t.Logf("recovery: %s down %v; back → promotion %v; outage start → promotion %v",
		dependency, rec.Outage.Round(time.Millisecond), rec.BackToPromotion.Round(time.Millisecond), rec.OutageToPromotion.Round(time.Millisecond))
	rec.write(t)
	c.settle(ctx, hash, promoted.promoted)
}

// waitPromotion waits until an evaluation promoting data version hash
// returned without error, and returns it.
func (c *cluster) waitPromotion(ctx context.Context, hash, what string) handlerReturn {
	c.t.Helper()
	var promoted handlerReturn
	c.returns.wait(ctx, c.t, what, func(rs []handlerReturn) bool {
		for _, r := range rs {
			if r.consumer == "eval" && r.err == nil && r.promoted != nil && r.promoted.ConfigHash == hash {
				promoted = r
				return true
			}
		}
		return false
	})
	return promoted
}

// settle waits until every consumer is idle and checks the outcome for
// data version hash: one promotion, an empty DLQ, every run FINISHED.
func (c *cluster) settle(ctx context.Context, hash string, promoted *Promotion) {
	c.t.Helper()
	c.waitIdle(ctx)
	c.checkOutcome(ctx, hash, promoted)
}

// waitIdle polls the consumers until none has a message to deliver or one
// delivered and not yet acknowledged: no handler runs, no retry is due,
// and nothing is left to publish (handlers publish only while they hold a
// message).
func (c *cluster) waitIdle(ctx context.Context) {
	t := c.t
	t.Helper()
	consumers := map[string]string{"eval": events.StreamName(events.TopicModelTraining)}
	for _, mt := range model.Types {
		consumers["train-"+strings.ToLower(mt)] = events.StreamName(events.TopicTrainingData)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := ""
		for name, stream := range consumers {
			cons, err := c.js.Consumer(ctx, stream, name)
			if err != nil {
				busy = fmt.Sprintf("consumer %s: %v", name, err)
				break
			}
			info := cons.CachedInfo()
			if info.NumPending > 0 || info.NumAckPending > 0 {
				busy = fmt.Sprintf("consumer %s: %d to deliver, %d unacknowledged", name, info.NumPending, info.NumAckPending)
				break
			}
		}
		if busy == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the pipeline did not settle within %v: %s", recoveryBudget, busy)
		case <-tick.C:
		}
	}
}

// checkOutcome checks what the run left: exactly one promotion of hash
// (current.json, one history record, one run tagged promoted=true, every
// model-selected event naming it), every training run FINISHED, one run
// per model type, and no dead letter on any topic.
func (c *cluster) checkOutcome(ctx context.Context, hash string, promoted *Promotion) {
	t := c.t
	t.Helper()
	cur, err := ReadPromotion(ctx, c.admin.Store)
	if err != nil {
		t.Fatalf("no current promotion: %v", err)
	}
	if cur.ConfigHash != hash || cur.RunID != promoted.RunID || cur.ModelType != model.TypeGRU {
		t.Errorf("current.json promotes %s run %s of %s; want the GRU run %s of %s", cur.ModelType, cur.RunID, cur.ConfigHash, promoted.RunID, hash)
	}
	if _, err := c.admin.Store.Stat(ctx, cur.Artifact.Bucket, cur.Artifact.Key); err != nil {
		t.Errorf("the promoted artifact is missing: %v", err)
	}
	hist, err := c.admin.Store.List(ctx, objstore.BucketModelPromotion, HistoryPrefix)
	if err != nil {
		t.Fatal(err)
	}
	perVersion := map[string][]string{} // data version → promoted run ids
	for _, o := range hist {
		var p Promotion
		if err := objstore.GetJSON(ctx, c.admin.Store, o.Bucket, o.Key, &p); err != nil {
			t.Fatal(err)
		}
		perVersion[p.ConfigHash] = append(perVersion[p.ConfigHash], p.RunID)
	}
	for version, ids := range perVersion {
		if len(ids) != 1 || (version == hash && ids[0] != cur.RunID) {
			t.Errorf("promotion history of data version %.8s: runs %v; want one record (of run %s for the current version)", version, ids, cur.RunID)
		}
	}
	if len(perVersion[hash]) == 0 {
		t.Errorf("no promotion history record of data version %.8s", hash)
	}

	expID, err := c.admin.Tracker.GetOrCreateExperiment(ctx, Experiment)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.admin.Tracker.SearchRuns(ctx, []string{expID}, fmt.Sprintf("tags.%s = '%s'", TagConfigHash, hash), nil)
	if err != nil {
		t.Fatal(err)
	}
	perType := map[string]int{}
	var promotedRuns []string
	for _, r := range runs {
		perType[r.Tag(TagModelType)]++
		if r.Info.Status != tracking.StatusFinished {
			t.Errorf("%s run %s is %s; want every training run FINISHED", r.Tag(TagModelType), r.Info.RunID, r.Info.Status)
		}
		if r.Tag(TagPromoted) == "true" {
			promotedRuns = append(promotedRuns, r.Info.RunID)
		}
	}
	for _, mt := range model.Types {
		if perType[mt] != 1 {
			t.Errorf("%d %s runs of the data version; want 1 (an outage must not leave a second run)", perType[mt], mt)
		}
	}
	if len(promotedRuns) != 1 || promotedRuns[0] != cur.RunID {
		t.Errorf("runs tagged %s=true: %v; want only %s", TagPromoted, promotedRuns, cur.RunID)
	}

	var selected []events.Event
	for _, ev := range c.streamEvents(ctx, events.TopicModelSelected) {
		if ev.ConfigHash == hash {
			selected = append(selected, ev)
		}
	}
	if len(selected) == 0 {
		t.Errorf("no model-selected event for data version %.8s", hash)
	}
	for _, ev := range selected {
		if ev.RunID != cur.RunID {
			t.Errorf("model-selected names run %s of %.8s; want %s", ev.RunID, hash, cur.RunID)
		}
	}
	for _, topic := range events.AllTopics {
		letters, err := c.admin.Bus.DeadLetters(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range letters {
			t.Errorf("dead letter on %s: %s: %s", topic, dl.Operation, dl.Error)
		}
	}
	failed := 0
	for _, r := range c.returns.all() {
		if errors.Is(r.err, ErrModelFailed) {
			t.Errorf("%s recorded a failed model for an outage: %v", r.consumer, r.err)
		}
		if r.err != nil {
			failed++
		}
	}
	t.Logf("outcome: promoted %s run %s; %d model-selected event(s); %d failed handler call(s)",
		cur.ModelType, cur.RunID, len(selected), failed)
}

// streamEvents reads every event stored on topic.
func (c *cluster) streamEvents(ctx context.Context, topic string) []events.Event {
	t := c.t
	t.Helper()
	stream, err := c.js.Stream(ctx, events.StreamName(topic))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(int(info.State.Msgs), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for msg := range batch.Messages() {
		var ev events.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("%s holds a message that is not an event: %v", topic, err)
		}
		out = append(out, ev)
	}
	if err := batch.Error(); err != nil {
		t.Fatal(err)
	}
	if len(out) != int(info.State.Msgs) {
		t.Fatalf("read %d of the %d events on %s", len(out), info.State.Msgs, topic)
	}
	return out
}

// recovery is one test's figures.
type recovery struct {
	Test, Dependency  string
	Outage            time.Duration // dependency stopped → started again
	BackToPromotion   time.Duration // started again → promoting evaluation returned
	OutageToPromotion time.Duration // stopped → promoting evaluation returned
}

// write appends the figures to $FLTS_FIGURES_DIR/restart-recovery.tsv
// (with a header when the file is new), when the variable is set.
func (r recovery) write(t *testing.T) {
	t.Helper()
	dir := os.Getenv(FiguresDirEnv)
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("failed to create %s: %v", dir, err)
	}
	path := filepath.Join(dir, "restart-recovery.tsv")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("failed to open %s: %v", path, err)
	}
	defer f.Close()
	var line strings.Builder
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		line.WriteString("time\ttest\tdependency\toutage_s\tback_to_promotion_s\toutage_to_promotion_s\n")
	}
	fmt.Fprintf(&line, "%s\t%s\t%s\t%.3f\t%.3f\t%.3f\n", time.Now().UTC().Format(time.RFC3339), r.Test, r.Dependency,
		r.Outage.Seconds(), r.BackToPromotion.Seconds(), r.OutageToPromotion.Seconds())
	if _, err := f.WriteString(line.String()); err != nil {
		t.Fatalf("failed to write %s: %v", path, err)
	}
}

// handlerReturn is what one handler call returned.
type handlerReturn struct {
	consumer string
	event    string // the operation handled (one per model-training event)
	err      error
	runID    string     // train
	promoted *Promotion // eval
	at       time.Time
}

// returns records every handler return and wakes the waiters.
type returns struct {
	mu      sync.Mutex
	list    []handlerReturn
	changed chan struct{} // closed and replaced on every add
}

func newReturns() *returns { return &returns{changed: make(chan struct{})} }

func (r *returns) add(h handlerReturn) {
	h.at = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, h)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *returns) all() []handlerReturn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// wait blocks until cond holds for the returns so far, failing the test
// when ctx ends first.
func (r *returns) wait(ctx context.Context, t *testing.T, what string, cond func([]handlerReturn) bool) {
	t.Helper()
	for {
		r.mu.Lock()
		ok, changed := cond(r.list), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, context.Cause(ctx))
		}
	}
}

// countConsumers counts the distinct consumers with a return matching match.
func countConsumers(rs []handlerReturn, match func(handlerReturn) bool) int {
	seen := map[string]bool{}
	for _, r := range rs {
		if match(r) {
			seen[r.consumer] = true
		}
	}
	return len(seen)
}

// failures counts the failed handler calls of consumer.
func failures(rs []handlerReturn, consumer string) int {
	n := 0
	for _, r := range rs {
		if r.consumer == consumer && r.err != nil {
			n++
		}
	}
	return n
}

// gate holds its callers until opened and tells the test who arrived.
type gate struct {
	entered chan struct{}
	opened  chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 16), opened: make(chan struct{})} }

// pass returns once the gate is open (at once if it is), or with ctx's error.
func (g *gate) pass(ctx context.Context) error {
	select {
	case <-g.opened:
		return nil
	default:
	}
	select {
	case g.entered <- struct{}{}:
	default: // more callers than the test waits for
	}
	select {
	case <-g.opened:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

// waitEntered waits until n callers reached the gate.
func (g *gate) waitEntered(ctx context.Context, t *testing.T, n int, what string) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		}
	}
}

// heldTrainer is a fake training with restartMetrics that, when hold is
// set, stays in progress until hold opens.
func heldTrainer(hold *gate) TrainFunc {
	return func(ctx context.Context, modelType string, data *preprocess.Processed, _ map[string]string, progress func(string, ...any)) (TrainOutput, error) {
		if hold != nil {
			if err := hold.pass(ctx); err != nil {
				return TrainOutput{}, err
			}
		}
		progress("epoch", "epoch", 1)
		return TrainOutput{
			Artifact: model.Artifact{ModelType: modelType, Targets: data.Targets, Features: data.Features, Window: data.Config.Window},
			Test:     restartMetrics[modelType], Baseline: score.Metrics{RMSE: 1, MAE: 1, MSE: 1},
			PerKPIRMSE: map[string]float64{"down": 3},
		}, nil
	}
}

// observedPublisher tells attempts about each publish on topic, as it begins.
type observedPublisher struct {
	Publisher
	topic    string
	attempts chan<- struct{}
}

func (p *observedPublisher) Publish(ctx context.Context, topic string, ev events.Event) error {
	if topic == p.topic {
		select {
		case p.attempts <- struct{}{}:
		default: // more attempts than the test waits for
		}
	}
	return p.Publisher.Publish(ctx, topic, ev)
}

// gatedTracker passes the gate before each call named call; the other
// calls go straight through.
type gatedTracker struct {
	Tracker
	call string
	gate *gate
}

func (g *gatedTracker) hold(ctx context.Context, call string) error {
	if call != g.call {
		return nil
	}
	return g.gate.pass(ctx)
}

func (g *gatedTracker) GetOrCreateExperiment(ctx context.Context, name string) (string, error) {
	if err := g.hold(ctx, "GetOrCreateExperiment"); err != nil {
		return "", err
	}
	return g.Tracker.GetOrCreateExperiment(ctx, name)
}

func (g *gatedTracker) SetTag(ctx context.Context, runID, key, value string) error {
	if err := g.hold(ctx, "SetTag"); err != nil {
		return err
	}
	return g.Tracker.SetTag(ctx, runID, key, value)
}

// natsServer is the embedded broker, restartable on its port and store.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	url  string
	stop func() // nil while stopped
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, dir: t.TempDir()}
	var err error
	if n.url, n.stop, err = events.StartEmbedded(n.dir); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(n.url)
	if err != nil {
		t.Fatal(err)
	}
	if n.port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatalf("embedded NATS URL %s: %v", n.url, err)
	}
	t.Cleanup(n.Stop)
	return n
}

// Stop shuts the broker down; its clients start reconnecting.
func (n *natsServer) Stop() {
	if n.stop != nil {
		n.stop()
		n.stop = nil
		n.t.Logf("nats on %s stopped", n.url)
	}
}

// Start runs the broker again on the same port and store directory.
func (n *natsServer) Start() {
	n.t.Helper()
	url, stop, err := events.StartEmbeddedOn(n.dir, n.port)
	if err != nil {
		n.t.Fatalf("failed to restart NATS on port %d: %v", n.port, err)
	}
	n.stop = stop
	n.t.Logf("nats on %s started again", url)
}

// trackingServer is the tracking server over HTTP, restartable on its
// address; each start is a new server (a new process) on the same store.
type trackingServer struct {
	t      *testing.T
	store  objstore.Store
	log    *slog.Logger
	addr   string
	srv    *http.Server
	served chan struct{}
}

func startTracking(t *testing.T, store objstore.Store, log *slog.Logger) *trackingServer {
	t.Helper()
	s := &trackingServer{t: t, store: store, log: log, addr: "127.0.0.1:0"}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start initialises a new server on the store and serves it on the address.
func (s *trackingServer) Start() {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), setupBudget)
	defer cancel()
	api := trackingserver.New(s.store, trackingserver.WithLogger(s.log))
	if err := api.Init(ctx); err != nil {
		t.Fatalf("failed to initialise the tracking server: %v", err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("failed to listen on %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func(srv *http.Server, served chan struct{}) {
		defer close(served)
		_ = srv.Serve(ln) // http.ErrServerClosed once stopped
	}(s.srv, s.served)
}

// Stop closes the listener and every connection, as a process exit does.
func (s *trackingServer) Stop() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.served
	s.srv = nil
	s.t.Logf("tracking server on %s stopped", s.addr)
}
