package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// StoredDeadLetter is a dead letter with its place in the DLQ stream.
type StoredDeadLetter struct {
	Seq   uint64 `json:"seq"`
	Topic string `json:"topic"`
	DeadLetter
}

// DeadLetters returns the dead letters of topic, oldest first.
func (b *NATSBus) DeadLetters(ctx context.Context, topic string) ([]StoredDeadLetter, error) {
	if err := validateTopic(topic); err != nil {
		return nil, err
	}
	stream, err := b.js.Stream(ctx, DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(DLQ(topic)))
	if err != nil {
		return nil, fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	n := info.State.Subjects[DLQ(topic)]
	if n == 0 {
		return nil, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{DLQ(topic)}})
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", DLQ(topic), err)
	}
	batch, err := cons.FetchNoWait(int(n))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", DLQ(topic), err)
	}
	var out []StoredDeadLetter
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("failed to read a dead letter's metadata: %w", err)
		}
		dl := StoredDeadLetter{Seq: md.Sequence.Stream, Topic: topic}
		if err := json.Unmarshal(msg.Data(), &dl.DeadLetter); err != nil {
			// Kept and listed as it is: an operator must see it.
			dl.Error = fmt.Sprintf("dead letter is not JSON (%v): %q", err, msg.Data())
		}
		out = append(out, dl)
	}
	if err := batch.Error(); err != nil {
		return out, fmt.Errorf("failed to read %s: %w", DLQ(topic), err)
	}
	slices.SortFunc(out, func(a, b StoredDeadLetter) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// DeadLetterCounts returns how many dead letters each of AllTopics holds,
// zero included, from one stream-info call: cheap enough to run on every
// metrics scrape, where listing the letters themselves would not be.
func (b *NATSBus) DeadLetterCounts(ctx context.Context) (map[string]int, error) {
	counts := make(map[string]int, len(AllTopics))
	for _, t := range AllTopics {
		counts[t] = 0
	}
	stream, err := b.js.Stream(ctx, DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return counts, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return nil, fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	for _, t := range AllTopics {
		counts[t] = int(info.State.Subjects[DLQ(t)])
	}
	return counts, nil
}

// Redrive publishes the payload of each dead letter of topic back to topic,
// oldest first, and removes it from the DLQ once the topic has stored it:
// after the cause is fixed (a data version re-processed, a bug deployed
// away), the pipeline takes the events up again. A dead letter whose
// payload is not an Event stays where it is and is reported.
func (b *NATSBus) Redrive(ctx context.Context, topic string) (redriven int, err error) {
	letters, err := b.DeadLetters(ctx, topic)
	if err != nil {
		return 0, err
	}
	stream, err := b.js.Stream(ctx, DLQStream)
	if err != nil && len(letters) > 0 {
		return 0, fmt.Errorf("failed to read stream %s: %w", DLQStream, err)
	}
	var kept []error
	for _, dl := range letters {
		var ev Event
		if err := json.Unmarshal(dl.Payload, &ev); err != nil {
			kept = append(kept, fmt.Errorf("dead letter %d kept: its payload is not an event: %w", dl.Seq, err))
			continue
		}
		if err := b.publishRaw(ctx, topic, dl.Payload); err != nil {
			return redriven, err
		}
		// Published first, deleted second: a failure in between leaves a
		// duplicate, which every consumer handles (they are idempotent),
		// never a lost event.
		if err := stream.DeleteMsg(ctx, dl.Seq); err != nil {
			return redriven, fmt.Errorf("re-published dead letter %d but failed to remove it: %w", dl.Seq, err)
		}
		redriven++
	}
	return redriven, errors.Join(kept...)
}
