package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flts/flts-e2e/pkg/backoff"
	"github.com/flts/flts-e2e/pkg/testlog"
)

// testTimeout bounds every wait in these tests; the happy paths finish in
// milliseconds, so only a broken bus hits it.
const testTimeout = 20 * time.Second

func startServer(t *testing.T, dir string) string {
	t.Helper()
	url, stop, err := StartEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

func connect(t *testing.T, url string, opts ...Option) *NATSBus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := Connect(ctx, url, testlog.New(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.EnsureTopics(ctx, AllTopics...); err != nil {
		t.Fatal(err)
	}
	return b
}

// collector records handled events and lets a test wait for a count.
type collector struct {
	mu     sync.Mutex
	events []Event
	seen   chan struct{}
}

func newCollector() *collector { return &collector{seen: make(chan struct{}, 1000)} }

func (c *collector) handle(_ context.Context, ev Event) error {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	c.seen <- struct{}{}
	return nil
}

func (c *collector) wait(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for i := 0; i < n; i++ {
		select {
		case <-c.seen:
		case <-deadline:
			c.mu.Lock()
			seen := runIDs(c.events)
			c.mu.Unlock()
			t.Fatalf("got %d more events, want %d (all runs handled so far: %v)", i, n, seen)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// waitFor waits until run has been handled and returns every event so far.
func (c *collector) waitFor(t *testing.T, run string) []Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		c.mu.Lock()
		evs := append([]Event(nil), c.events...)
		c.mu.Unlock()
		if slices.Contains(runIDs(evs), run) {
			return evs
		}
		select {
		case <-c.seen:
		case <-deadline:
			t.Fatalf("run %q never handled (runs handled: %v)", run, runIDs(evs))
		}
	}
}

func publishN(t *testing.T, b *NATSBus, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := b.Publish(context.Background(), topic, Event{Operation: "op", Status: StatusSuccess, RunID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func runIDs(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.RunID
	}
	return out
}

func startSub(t *testing.T, b *NATSBus, topic, durable string, h Handler) *Subscription {
	t.Helper()
	sub, err := b.Start(context.Background(), topic, durable, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return sub
}

func TestPublishConsumeInOrder(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()))
	publishN(t, b, TopicTrainingData, 0, 3)
	c := newCollector()
	startSub(t, b, TopicTrainingData, "train-gru", c.handle)
	evs := c.wait(t, 3)
	if got := fmt.Sprint(runIDs(evs)); got != "[0 1 2]" {
		t.Fatalf("run ids = %s, want [0 1 2]", got)
	}
	if evs[0].Operation != "op" || evs[0].Status != StatusSuccess || evs[0].Timestamp.IsZero() {
		t.Fatalf("event not round-tripped: %+v", evs[0])
	}
}

func TestDurableResumesAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	url, stop, err := StartEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, url)
	c := newCollector()
	sub := startSub(t, b, TopicModelTraining, "eval", c.handle)
	publishN(t, b, TopicModelTraining, 0, 2)
	c.wait(t, 2)
	sub.Stop()
	_ = b.Close()
	// Messages published while the consumer is away must wait for it.
	publisher := connect(t, url)
	publishN(t, publisher, TopicModelTraining, 2, 2)
	_ = publisher.Close()
	stop()

	url2 := startServer(t, dir) // same store, new port
	b2 := connect(t, url2)
	startSub(t, b2, TopicModelTraining, "eval", c.handle)
	evs := c.wait(t, 2)
	if got := fmt.Sprint(runIDs(evs)); got != "[0 1 2 3]" {
		t.Fatalf("run ids = %s, want [0 1 2 3] (each exactly once)", got)
	}
}

func TestHandlerErrorRedelivers(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0), WithMaxDeliver(5))
	var mu sync.Mutex
	attempts := 0
	done := make(chan struct{})
	startSub(t, b, TopicModelSelected, "sel", func(_ context.Context, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts < 3 {
			return errors.New("transient")
		}
		close(done)
		return nil
	})
	publishN(t, b, TopicModelSelected, 0, 1)
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("message not redelivered after handler errors")
	}
	if n := dlqCount(t, b, TopicModelSelected); n != 0 {
		t.Fatalf("DLQ holds %d messages, want 0 for a message that succeeded on retry", n)
	}
}

func TestDeadLettersAfterMaxDeliver(t *testing.T) {
	const maxDeliver = 3
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0), WithMaxDeliver(maxDeliver))
	var mu sync.Mutex
	attempts := 0
	startSub(t, b, TopicPerformanceEval, "perf", func(_ context.Context, ev Event) error {
		mu.Lock()
		attempts++
		mu.Unlock()
		return errors.New("model file corrupt")
	})
	if err := b.Publish(context.Background(), TopicPerformanceEval, Event{Operation: "Trained: GRU", Status: StatusSuccess, RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	dl := nextDLQ(t, b, TopicPerformanceEval)
	if dl.Operation != "Trained: GRU" || dl.Status != StatusFailed {
		t.Fatalf("dead letter = %+v, want operation 'Trained: GRU' status FAILED", dl)
	}
	if want := "model file corrupt"; !contains(dl.Error, want) {
		t.Fatalf("dead letter error %q does not carry %q", dl.Error, want)
	}
	var orig Event
	if err := json.Unmarshal(dl.Payload, &orig); err != nil || orig.RunID != "r1" {
		t.Fatalf("dead letter payload %s is not the original event (%v)", dl.Payload, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != maxDeliver {
		t.Fatalf("handler ran %d times, want %d", attempts, maxDeliver)
	}
}

func TestInvalidJSONIsDeadLetteredAtOnce(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()))
	c := newCollector()
	startSub(t, b, TopicInferenceData, "inf", c.handle)
	if err := b.publishRaw(context.Background(), TopicInferenceData, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	dl := nextDLQ(t, b, TopicInferenceData)
	var payload string
	if err := json.Unmarshal(dl.Payload, &payload); err != nil || payload != "not json" {
		t.Fatalf("payload = %s (%v), want the raw body as a JSON string", dl.Payload, err)
	}
	if !contains(dl.Error, "invalid event JSON") {
		t.Fatalf("error = %q, want it to say invalid event JSON", dl.Error)
	}
}

func TestTwoDurableConsumersEachGetEveryMessage(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()))
	gru, lstm := newCollector(), newCollector()
	startSub(t, b, TopicTrainingData, "train-gru", gru.handle)
	startSub(t, b, TopicTrainingData, "train-lstm", lstm.handle)
	publishN(t, b, TopicTrainingData, 0, 5)
	for name, c := range map[string]*collector{"train-gru": gru, "train-lstm": lstm} {
		if got := fmt.Sprint(runIDs(c.wait(t, 5))); got != "[0 1 2 3 4]" {
			t.Fatalf("%s got %s, want [0 1 2 3 4]", name, got)
		}
	}
}

func TestEphemeralGetsOnlyNewMessages(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()))
	publishN(t, b, TopicModelSelected, 0, 2)
	c := newCollector()
	startSub(t, b, TopicModelSelected, "", c.handle)
	publishN(t, b, TopicModelSelected, 2, 1)
	if got := fmt.Sprint(runIDs(c.wait(t, 1))); got != "[2]" {
		t.Fatalf("ephemeral consumer got %s, want [2]", got)
	}
}

func TestSubscribeReturnsWhenContextEnds(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()))
	ctx, cancel := context.WithCancel(context.Background())
	c := newCollector()
	errc := make(chan error, 1)
	go func() { errc <- b.Subscribe(ctx, TopicTrainingData, "x", c.handle) }()
	publishN(t, b, TopicTrainingData, 0, 1)
	c.wait(t, 1)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Subscribe after cancel = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Subscribe did not return after its context ended")
	}
	if err := b.Subscribe(context.Background(), "bad topic", "x", c.handle); err == nil {
		t.Fatal("Subscribe with a bad topic succeeded")
	}
	if err := b.Subscribe(context.Background(), TopicTrainingData, "x", nil); err == nil {
		t.Fatal("Subscribe with a nil handler succeeded")
	}
}

// Connect dials once and fails fast without a server; waiting for one is
// backoff.Retry's job (pipeline.Connect wraps Connect in it), not a second
// loop inside Connect.
func TestConnectFailsFastAndRetryWaitsForServer(t *testing.T) {
	// Reserve a port, then start the server on it only after retrying began.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	if _, err := Connect(context.Background(), url, nil); err == nil {
		t.Fatal("Connect with no server succeeded")
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res := make(chan error, 1)
	var b *NATSBus
	go func() {
		res <- backoff.Retry(ctx, nil, "nats", backoff.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}, func(ctx context.Context) error {
			var err error
			b, err = Connect(ctx, url, nil)
			return err
		})
	}()
	_, stop, err := StartEmbeddedOn(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := <-res; err != nil {
		t.Fatalf("retrying Connect did not reach the server: %v", err)
	}
	_ = b.Close()
}

func TestConsumerRecreatedAfterDeletion(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), withPullExpiry(time.Second))
	c := newCollector()
	startSub(t, b, TopicModelTraining, "eval", c.handle)
	publishN(t, b, TopicModelTraining, 0, 1)
	c.wait(t, 1)
	if err := b.js.DeleteConsumer(context.Background(), StreamName(TopicModelTraining), "eval"); err != nil {
		t.Fatal(err)
	}
	publishN(t, b, TopicModelTraining, 1, 1)
	// The re-created durable starts from the stream's beginning, so run 0
	// usually comes a second time before run 1 (at-least-once allows it).
	// It may not: under CPU contention the re-created consumer sometimes
	// starts past it (2 of 36 runs of four parallel race-enabled test
	// binaries). Run 0 was handled and acked, so neither order loses an event.
	evs := c.waitFor(t, "1")
	if got := fmt.Sprint(runIDs(evs)); got != "[0 0 1]" && got != "[0 1]" {
		t.Fatalf("after consumer deletion got %s, want [0 0 1] or [0 1]", got)
	}
}

func TestSubscriberSurvivesServerLosingState(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, stop, err := StartEmbeddedOn(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, fmt.Sprintf("nats://127.0.0.1:%d", port), withPullExpiry(time.Second))
	c := newCollector()
	startSub(t, b, TopicTrainingData, "train-gru", c.handle)
	publishN(t, b, TopicTrainingData, 0, 1)
	c.wait(t, 1)
	stop()
	// A new, empty server on the same address: streams and consumers are gone
	// (an emptyDir NATS pod restarted). The subscriber must re-create them.
	_, stop2, err := StartEmbeddedOn(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop2)
	deadline := time.Now().Add(testTimeout)
	for {
		err := b.Publish(context.Background(), TopicTrainingData, Event{Operation: "op", RunID: "after"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream never re-created after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs := c.wait(t, 1)
	if last := evs[len(evs)-1].RunID; last != "after" {
		t.Fatalf("after restart got run %q, want 'after'", last)
	}
}

func TestStreamName(t *testing.T) {
	for topic, want := range map[string]string{"training-data": "TRAINING_DATA", "model-selected": "MODEL_SELECTED"} {
		if got := StreamName(topic); got != want {
			t.Errorf("StreamName(%q) = %q, want %q", topic, got, want)
		}
	}
}

func dlqCount(t *testing.T, b *NATSBus, topic string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(DLQ(topic)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[DLQ(topic)]
}

func nextDLQ(t *testing.T, b *NATSBus, topic string) DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cons, err := b.js.OrderedConsumer(ctx, DLQStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{DLQ(topic)}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(testTimeout))
	if err != nil {
		t.Fatalf("no dead letter on %s: %v", DLQ(topic), err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		t.Fatalf("dead letter %q is not JSON: %v", msg.Data(), err)
	}
	return dl
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// BenchmarkPublishConsume measures publish (with JetStream ack) to handler
// delivery through a durable consumer on the embedded server.
func BenchmarkPublishConsume(b *testing.B) {
	url, stop, err := StartEmbedded(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	bus, err := Connect(context.Background(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	if err := bus.EnsureTopics(context.Background(), TopicTrainingData); err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, 1)
	sub, err := bus.Start(context.Background(), TopicTrainingData, "bench", func(context.Context, Event) error {
		got <- struct{}{}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Stop()
	b.ResetTimer()
	for b.Loop() {
		if err := bus.Publish(context.Background(), TopicTrainingData, Event{Operation: "bench", Status: StatusSuccess}); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}

func TestTransientErrorsAreRetriedPastAnyFixedLimit(t *testing.T) {
	// Short pull requests: a redelivery that lands between two pulls is
	// fetched at once instead of after the 30 s default expiry.
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0), withPullExpiry(time.Second))
	const failures = 8 // more than the old fixed limit of 5 deliveries
	var mu sync.Mutex
	attempts := 0
	done := make(chan struct{})
	startSub(t, b, TopicModelTraining, "eval", func(_ context.Context, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= failures {
			return errors.New("tracking: connection refused")
		}
		close(done)
		return nil
	})
	publishN(t, b, TopicModelTraining, 0, 1)
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("gave up after %d attempts: a dependency that is down must cost a delay, not the message", attempts)
	}
	if n := dlqCount(t, b, TopicModelTraining); n != 0 {
		t.Fatalf("DLQ holds %d messages, want 0", n)
	}
}

func TestPermanentErrorsAreDeadLetteredAtOnce(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0))
	var mu sync.Mutex
	attempts := 0
	startSub(t, b, TopicTrainingData, "train", func(_ context.Context, ev Event) error {
		mu.Lock()
		attempts++
		mu.Unlock()
		return fmt.Errorf("train: %w", Permanent(errors.New("data version abc does not exist")))
	})
	if err := b.Publish(context.Background(), TopicTrainingData, Event{Operation: "Processed", Status: StatusSuccess, ConfigHash: "abc"}); err != nil {
		t.Fatal(err)
	}
	dl := nextDLQ(t, b, TopicTrainingData)
	if !contains(dl.Error, "data version abc does not exist") {
		t.Fatalf("dead letter error %q", dl.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 1 {
		t.Fatalf("handler ran %d times, want 1", attempts)
	}
}

func TestRetryDelayDoublesUpToTheCap(t *testing.T) {
	for n, want := range map[uint64]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 1000: time.Minute} {
		if got := retryDelay(time.Second, time.Minute, n); got != want {
			t.Errorf("retryDelay after %d failures = %s, want %s", n, got, want)
		}
	}
	if got := retryDelay(0, time.Minute, 9); got != 0 {
		t.Errorf("a zero first delay must stay zero, got %s", got)
	}
	if IsPermanent(errors.New("x")) || !IsPermanent(fmt.Errorf("wrapped: %w", Permanent(errors.New("x")))) || Permanent(nil) != nil {
		t.Error("Permanent/IsPermanent disagree")
	}
}

func TestDeadLettersAreListedAndRedriven(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0))
	var mu sync.Mutex
	broken := true
	handled := make(chan string, 2)
	startSub(t, b, TopicTrainingData, "train", func(_ context.Context, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return Permanent(errors.New("data version " + ev.ConfigHash + " is not in the store"))
		}
		handled <- ev.ConfigHash
		return nil
	})
	for _, v := range []string{"v1", "v2"} {
		if err := b.Publish(context.Background(), TopicTrainingData, Event{Operation: "Processed", Status: StatusSuccess, ConfigHash: v}); err != nil {
			t.Fatal(err)
		}
	}
	// Poll (with a deadline) until both are dead-lettered.
	var letters []StoredDeadLetter
	for deadline := time.Now().Add(testTimeout); len(letters) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if letters, err = b.DeadLetters(context.Background(), TopicTrainingData); err != nil {
			t.Fatal(err)
		}
	}
	if len(letters) != 2 || !contains(letters[0].Error, "v1 is not in the store") || !contains(letters[1].Error, "v2") || letters[0].Seq >= letters[1].Seq {
		t.Fatalf("dead letters %+v, want v1 then v2", letters)
	}
	wantCounts := map[string]int{}
	for _, topic := range AllTopics {
		wantCounts[topic] = 0
	}
	wantCounts[TopicTrainingData] = 2
	if counts, err := b.DeadLetterCounts(context.Background()); err != nil || !maps.Equal(counts, wantCounts) {
		t.Fatalf("DeadLetterCounts = %v, %v; want %v", counts, err, wantCounts)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	n, err := b.Redrive(context.Background(), TopicTrainingData)
	if err != nil || n != 2 {
		t.Fatalf("Redrive = %d, %v; want 2", n, err)
	}
	if n := dlqCount(t, b, TopicTrainingData); n != 0 {
		t.Fatalf("DLQ holds %d after the redrive", n)
	}
	wantCounts[TopicTrainingData] = 0
	if counts, err := b.DeadLetterCounts(context.Background()); err != nil || !maps.Equal(counts, wantCounts) {
		t.Fatalf("DeadLetterCounts after the redrive = %v, %v; want %v", counts, err, wantCounts)
	}
	for _, want := range []string{"v1", "v2"} {
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("re-driven event %s handled, want %s (oldest first)", got, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("re-driven event %s not handled", want)
		}
	}
}

func TestAStuckHandlerIsCutAtItsDeadlineAndRetried(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), WithRetryDelay(0), WithHandlerTimeout(100*time.Millisecond), withPullExpiry(time.Second))
	attempts := make(chan error, 2)
	var calls atomic.Int32
	startSub(t, b, TopicModelTraining, "eval", func(ctx context.Context, ev Event) error {
		if calls.Add(1) == 1 {
			<-ctx.Done() // a dependency that accepts and never answers
			attempts <- ctx.Err()
			return ctx.Err()
		}
		attempts <- nil
		return nil
	})
	publishN(t, b, TopicModelTraining, 0, 1)
	for i, want := range []error{context.DeadlineExceeded, nil} {
		select {
		case got := <-attempts:
			if !errors.Is(got, want) {
				t.Fatalf("attempt %d ended with %v, want %v", i+1, got, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("attempt %d never came: a stuck handler must be cut and the message retried", i+1)
		}
	}
}

func TestStreamsAreBoundedByTheirLimits(t *testing.T) {
	b := connect(t, startServer(t, t.TempDir()), WithStreamLimits(1<<20, time.Hour))
	if err := b.EnsureTopics(context.Background(), AllTopics...); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{StreamName(TopicTrainingData), DLQStream} {
		s, err := b.js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := s.CachedInfo().Config; cfg.MaxBytes != 1<<20 || cfg.MaxAge != time.Hour {
			t.Errorf("stream %s: max bytes %d, max age %s; want 1 MiB and 1h", name, cfg.MaxBytes, cfg.MaxAge)
		}
	}
	// A publisher past the bound drops the oldest events, never fails.
	body := Event{Operation: "Processed", Status: StatusSuccess, Error: strings.Repeat("x", 64<<10)}
	for range 40 { // 2.5 MiB into a 1 MiB stream
		if err := b.Publish(context.Background(), TopicTrainingData, body); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.js.Stream(context.Background(), StreamName(TopicTrainingData))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 1<<20 || info.State.Msgs == 0 || info.State.Msgs >= 40 {
		t.Fatalf("stream holds %d bytes in %d messages, want at most 1 MiB and the oldest dropped", info.State.Bytes, info.State.Msgs)
	}
}
