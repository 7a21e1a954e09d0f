// Package events is the pipeline's event bus: small JSON claim-check
// messages on named topics. The NATS JetStream transport lives in this
// package; the Bus interface keeps another transport (Kafka) possible.
package events

import (
	"context"
	"time"
)

// Topics of the pipeline; each has a dead-letter topic DLQ-<topic>.
const (
	TopicTrainingData    = "training-data"
	TopicInferenceData   = "inference-data"
	TopicModelTraining   = "model-training"
	TopicModelSelected   = "model-selected"
	TopicPerformanceEval = "performance-eval"
)

// AllTopics lists every topic the pipeline uses.
var AllTopics = []string{TopicTrainingData, TopicInferenceData, TopicModelTraining, TopicModelSelected, TopicPerformanceEval}

// DLQ returns the dead-letter topic of topic.
func DLQ(topic string) string { return "DLQ-" + topic }

// Status values of Event.Status.
const (
	StatusSuccess = "SUCCESS"
	StatusFailed  = "FAILED"
)

// Event is the JSON body of every message.
type Event struct {
	Operation  string    `json:"operation"`
	Status     string    `json:"status"`
	RunID      string    `json:"run_id,omitempty"`
	ConfigHash string    `json:"config_hash,omitempty"`
	ModelType  string    `json:"model_type,omitempty"`
	Object     string    `json:"object,omitempty"` // claim check: "bucket/key"
	Error      string    `json:"error,omitempty"`
	Timestamp  time.Time `json:"timestamp"`
}

// Handler processes one event. Returning an error makes the message be
// redelivered after a growing delay; an error marked Permanent sends it to
// the DLQ topic at once.
type Handler func(ctx context.Context, ev Event) error

// Bus publishes and consumes events.
type Bus interface {
	// EnsureTopics creates the streams for topics and their dead-letter topics.
	EnsureTopics(ctx context.Context, topics ...string) error
	Publish(ctx context.Context, topic string, ev Event) error
	// Start consumes topic in the background with a durable consumer
	// (durable == "" means ephemeral, starting with new messages) until ctx
	// is done or the subscription is stopped; it returns once consuming.
	Start(ctx context.Context, topic, durable string, h Handler) (*Subscription, error)
	// Subscribe is Start that blocks until ctx is done.
	Subscribe(ctx context.Context, topic, durable string, h Handler) error
	// DeadLetters lists the dead letters of topic, oldest first.
	DeadLetters(ctx context.Context, topic string) ([]StoredDeadLetter, error)
	// DeadLetterCounts returns the number of dead letters of every topic.
	DeadLetterCounts(ctx context.Context) (map[string]int, error)
	// Redrive publishes topic's dead letters back to it and removes them.
	Redrive(ctx context.Context, topic string) (int, error)
	Close() error
}
