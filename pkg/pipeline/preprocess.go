package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flts/flts-e2e/pkg/dataset"
	"github.com/flts/flts-e2e/pkg/events"
	"github.com/flts/flts-e2e/pkg/objstore"
	"github.com/flts/flts-e2e/pkg/preprocess"
)

// PreprocessConfig configures the preprocess stage.
type PreprocessConfig struct {
	Rows   int    // rows generated when no raw CSV exists (0: the original's 15,927)
	Seed   uint64 // seed of that generation
	Config preprocess.Config
}

// LatestData is processed-data/latest.json: the newest data version, which
// eval uses to refuse promoting models of stale data.
type LatestData struct {
	ConfigHash  string    `json:"config_hash"`
	ProcessedAt time.Time `json:"processed_at"`
}

// PreprocessResult tells what the stage did.
type PreprocessResult struct {
	ConfigHash string
	Generated  bool // the raw CSV was absent and got generated
	Reused     bool // the data version already existed
}

// Preprocess turns the raw CSV into a processed data version and announces
// it on training-data. Re-running it for an existing version only
// re-announces it.
func Preprocess(ctx context.Context, d Deps, cfg PreprocessConfig) (PreprocessResult, error) {
	log := d.log()
	if err := cfg.Config.Validate(); err != nil {
		return PreprocessResult{}, fmt.Errorf("invalid preprocessing config: %w", err)
	}
	res := PreprocessResult{ConfigHash: cfg.Config.Hash()}
	metaKey := ProcessedKey(res.ConfigHash, "meta.json")
	_, err := d.Store.Stat(ctx, objstore.BucketProcessed, metaKey)
	switch {
	case err == nil:
		res.Reused = true
		log.Info("data version already processed; announcing it again", "config_hash", res.ConfigHash)
	case errors.Is(err, objstore.ErrNotFound):
		if res.Generated, err = process(ctx, d, cfg, res.ConfigHash); err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("failed to check %s/%s: %w", objstore.BucketProcessed, metaKey, err)
	}
	latest, _ := json.Marshal(LatestData{ConfigHash: res.ConfigHash, ProcessedAt: d.now()})
	if err := d.Store.Put(ctx, objstore.BucketProcessed, LatestDataKey, latest, "application/json"); err != nil {
		return res, fmt.Errorf("failed to record the latest data version: %w", err)
	}
	ev := events.Event{Operation: "Processed", Status: events.StatusSuccess, ConfigHash: res.ConfigHash,
		Object: objstore.BucketProcessed + "/" + metaKey}
	if err := d.publish(ctx, events.TopicTrainingData, ev); err != nil {
		return res, err
	}
	log.Info("announced processed data", "topic", events.TopicTrainingData, "config_hash", res.ConfigHash)
	return res, nil
}

func process(ctx context.Context, d Deps, cfg PreprocessConfig, hash string) (generated bool, err error) {
	log := d.log()
	raw, err := d.Store.Get(ctx, objstore.BucketDataset, RawKey)
	if errors.Is(err, objstore.ErrNotFound) {
		log.Info("raw dataset absent: generating it", "rows", cfg.Rows, "seed", cfg.Seed)
		frame, gerr := dataset.Generate(dataset.GenerateConfig{Rows: cfg.Rows, Seed: cfg.Seed})
		if gerr != nil {
			return false, fmt.Errorf("failed to generate the raw dataset: %w", gerr)
		}
		var buf bytes.Buffer
		if err := dataset.WriteCSV(&buf, frame); err != nil {
			return false, fmt.Errorf("failed to encode the raw dataset: %w", err)
		}
		raw, generated = buf.Bytes(), true
		if err := d.Store.Put(ctx, objstore.BucketDataset, RawKey, raw, "text/csv"); err != nil {
			return false, fmt.Errorf("failed to store the raw dataset: %w", err)
		}
	} else if err != nil {
		return false, fmt.Errorf("failed to read %s/%s: %w", objstore.BucketDataset, RawKey, err)
	}
	frame, err := dataset.ReadCSV(bytes.NewReader(raw))
	if err != nil {
		return generated, fmt.Errorf("failed to parse %s/%s: %w", objstore.BucketDataset, RawKey, err)
	}
	start := time.Now()
	log.Info("preprocessing", "rows", len(frame.Times), "config_hash", hash)
	p, err := preprocess.Run(frame, cfg.Config)
	if err != nil {
		return generated, fmt.Errorf("failed to preprocess: %w", err)
	}
	var train, test, meta bytes.Buffer
	if err := p.WriteParts(&train, &test, &meta); err != nil {
		return generated, err
	}
	// meta.json goes last: its presence marks the version complete.
	for _, part := range []struct {
		name string
		body []byte
	}{{"train.json", train.Bytes()}, {"test.json", test.Bytes()}, {"meta.json", meta.Bytes()}} {
		if err := d.Store.Put(ctx, objstore.BucketProcessed, ProcessedKey(hash, part.name), part.body, "application/json"); err != nil {
			return generated, fmt.Errorf("failed to store processed %s: %w", part.name, err)
		}
	}
	log.Info("preprocessed", "config_hash", hash, "train_windows", p.Stats.TrainWindows, "test_windows", p.Stats.TestWindows,
		"imputed_cells", p.Stats.ImputedCells, "seconds", time.Since(start).Seconds())
	return generated, nil
}

// LoadProcessed reads a data version from the store.
func LoadProcessed(ctx context.Context, s objstore.Reader, hash string) (*preprocess.Processed, error) {
	parts := make([][]byte, 3)
	for i, name := range []string{"train.json", "test.json", "meta.json"} {
		b, err := s.Get(ctx, objstore.BucketProcessed, ProcessedKey(hash, name))
		if err != nil {
			return nil, fmt.Errorf("failed to read processed %s of %s: %w", name, hash, err)
		}
		parts[i] = b
	}
	p, err := preprocess.ReadParts(bytes.NewReader(parts[0]), bytes.NewReader(parts[1]), bytes.NewReader(parts[2]))
	if err != nil {
		return nil, fmt.Errorf("failed to load data version %s: %w", hash, err)
	}
	return p, nil
}

// ReadLatestData returns the newest data version, or objstore.ErrNotFound.
func ReadLatestData(ctx context.Context, s objstore.Reader) (LatestData, error) {
	var l LatestData
	if err := objstore.GetJSON(ctx, s, objstore.BucketProcessed, LatestDataKey, &l); err != nil {
		return l, fmt.Errorf("failed to read the latest data version: %w", err)
	}
	return l, nil
}
