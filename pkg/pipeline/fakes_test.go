package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/tracking"
)

// recordingBus keeps every published event.
type recordingBus struct {
	mu     sync.Mutex
	events map[string][]events.Event
	// failNext makes the next n publishes to a topic fail, as a broker
	// that restarts does.
	failNext map[string]int
}

func (b *recordingBus) Publish(_ context.Context, topic string, ev events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext[topic] > 0 {
		b.failNext[topic]--
		return errors.New("nats: connection closed")
	}
	if b.events == nil {
		b.events = map[string][]events.Event{}
	}
	b.events[topic] = append(b.events[topic], ev)
	return nil
}

func (b *recordingBus) on(topic string) []events.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]events.Event(nil), b.events[topic]...)
}

// memTracker is an in-memory Tracker; filters are ignored (the pipeline
// re-checks them), as a server without filter support would.
type memTracker struct {
	mu   sync.Mutex
	runs []*tracking.Run
	tick int64
}

func (m *memTracker) GetOrCreateExperiment(context.Context, string) (string, error) { return "1", nil }

func (m *memTracker) CreateRun(_ context.Context, expID, name string, tags map[string]string) (tracking.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick++
	id := fmt.Sprintf("run%03d", m.tick)
	r := &tracking.Run{Info: tracking.RunInfo{RunID: id, ExperimentID: expID, RunName: name, Status: tracking.StatusRunning,
		StartTime: m.tick, ArtifactURI: "s3://mlflow/" + expID + "/" + id + "/artifacts"}}
	for k, v := range tags {
		r.Data.Tags = append(r.Data.Tags, tracking.RunTag{Key: k, Value: v})
	}
	m.runs = append(m.runs, r)
	return *r, nil
}

func (m *memTracker) find(id string) (*tracking.Run, error) {
	for _, r := range m.runs {
		if r.Info.RunID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("run %s not found", id)
}

func (m *memTracker) LogBatch(_ context.Context, id string, metrics map[string]float64, params, tags map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(id)
	if err != nil {
		return err
	}
	for k, v := range metrics {
		r.Data.Metrics = append(r.Data.Metrics, tracking.Metric{Key: k, Value: v})
	}
	for k, v := range params {
		r.Data.Params = append(r.Data.Params, tracking.Param{Key: k, Value: v})
	}
	for k, v := range tags {
		setTag(r, k, v)
	}
	return nil
}

func setTag(r *tracking.Run, k, v string) {
	for i := range r.Data.Tags {
		if r.Data.Tags[i].Key == k {
			r.Data.Tags[i].Value = v
			return
		}
	}
	r.Data.Tags = append(r.Data.Tags, tracking.RunTag{Key: k, Value: v})
}

func (m *memTracker) SetTag(_ context.Context, id, k, v string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(id)
	if err != nil {
		return err
	}
	setTag(r, k, v)
	return nil
}

func (m *memTracker) UpdateRun(_ context.Context, id, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(id)
	if err != nil {
		return err
	}
	r.Info.Status = status
	return nil
}

func (m *memTracker) SearchRuns(context.Context, []string, string, []string) ([]tracking.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]tracking.Run, len(m.runs))
	for i, r := range m.runs {
		out[i] = *r
	}
	return out, nil
}

func (m *memTracker) get(id string) tracking.Run {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, _ := m.find(id)
	return *r
}
