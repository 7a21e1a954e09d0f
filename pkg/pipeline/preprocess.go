package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// RawKey is the raw CSV in BucketDataset (default RawKey, generated
	// when absent). A user's upload has a key of its own (UploadKey), so
	// two uploads never race on one object; such a key must exist.
	RawKey string
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
// it on training-data. The version (config_hash) is the hash of the
// preprocessing config, which names the raw CSV by its SHA-256: a new CSV
// is a new version (new trainings, a new promotion), the same CSV and
// config reuse the existing one and only re-announce it.
func Preprocess(ctx context.Context, d Deps, cfg PreprocessConfig) (PreprocessResult, error) {
	log := d.log()
	if err := cfg.Config.Validate(); err != nil {
		return PreprocessResult{}, fmt.Errorf("invalid preprocessing config: %w", err)
	}
	var res PreprocessResult
	raw, generated, err := rawDataset(ctx, d, cfg)
	if err != nil {
		return res, err
	}
	res.Generated = generated
	cfg.Config.RawSHA256 = RawDigest(raw)
	res.ConfigHash = cfg.Config.Hash()
	metaKey := ProcessedKey(res.ConfigHash, "meta.json")
	_, err = d.Store.Stat(ctx, objstore.BucketProcessed, metaKey)
	switch {
	case err == nil:
		res.Reused = true
		log.Info("data version already processed; announcing it again", "config_hash", res.ConfigHash, "raw_sha256", cfg.Config.RawSHA256)
	case errors.Is(err, objstore.ErrNotFound):
		if err := process(ctx, d, cfg.Config, raw, res.ConfigHash); err != nil {
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

// RawDigest is the hex SHA-256 of a raw CSV: the part of the data version
// that names the data.
func RawDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// rawDataset returns the raw CSV, generating and storing it when the
// default one is absent.
func rawDataset(ctx context.Context, d Deps, cfg PreprocessConfig) (raw []byte, generated bool, err error) {
	key := cmp.Or(cfg.RawKey, RawKey)
	raw, err = d.Store.Get(ctx, objstore.BucketDataset, key)
	switch {
	case err == nil:
		return raw, false, nil
	case !errors.Is(err, objstore.ErrNotFound):
		return nil, false, fmt.Errorf("failed to read %s/%s: %w", objstore.BucketDataset, key, err)
	case key != RawKey:
		// A named upload that is not there: generating data in its
		// place would train on something the user never gave.
		return nil, false, fmt.Errorf("raw dataset %s/%s not found", objstore.BucketDataset, key)
	}
	d.log().Info("raw dataset absent: generating it", "rows", cfg.Rows, "seed", cfg.Seed)
	frame, err := dataset.Generate(dataset.GenerateConfig{Rows: cfg.Rows, Seed: cfg.Seed})
	if err != nil {
		return nil, false, fmt.Errorf("failed to generate the raw dataset: %w", err)
	}
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, frame); err != nil {
		return nil, false, fmt.Errorf("failed to encode the raw dataset: %w", err)
	}
	if err := d.Store.Put(ctx, objstore.BucketDataset, RawKey, buf.Bytes(), "text/csv"); err != nil {
		return nil, false, fmt.Errorf("failed to store the raw dataset: %w", err)
	}
	return buf.Bytes(), true, nil
}

// CheckDataset reads a raw CSV the way preprocessing will and runs the
// preprocessing on it, so a user's file is refused (with its line and
// column) before anything is stored, and never fails the pipeline later.
func CheckDataset(raw []byte, cfg preprocess.Config) error {
	frame, err := dataset.ReadCSV(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if _, err := preprocess.Run(frame, cfg); err != nil {
		return err
	}
	return nil
}

// PutDataset checks a user's raw CSV (CheckDataset) and stores it at key
// in BucketDataset: RawKey for the dataset the next default preprocessing
// run reads, UploadKey for a run that names it.
func PutDataset(ctx context.Context, s objstore.Store, key string, raw []byte, cfg preprocess.Config) error {
	if err := CheckDataset(raw, cfg); err != nil {
		return err
	}
	if err := s.Put(ctx, objstore.BucketDataset, key, raw, "text/csv"); err != nil {
		return fmt.Errorf("failed to store the dataset: %w", err)
	}
	return nil
}

// UploadKey is where an uploaded raw CSV is kept: named by its digest, so
// the same file is one object and two files never overwrite each other.
func UploadKey(raw []byte) string { return "raw/uploads/" + RawDigest(raw) + ".csv" }

func process(ctx context.Context, d Deps, cfg preprocess.Config, raw []byte, hash string) error {
	log := d.log()
	frame, err := dataset.ReadCSV(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("failed to parse %s/%s: %w", objstore.BucketDataset, RawKey, err)
	}
	start := time.Now()
	log.Info("preprocessing", "rows", len(frame.Times), "config_hash", hash)
	p, err := preprocess.Run(frame, cfg)
	if err != nil {
		return fmt.Errorf("failed to preprocess: %w", err)
	}
	var train, test, meta bytes.Buffer
	if err := p.WriteParts(&train, &test, &meta); err != nil {
		return err
	}
	// meta.json goes last: its presence marks the version complete.
	for _, part := range []struct {
		name string
		body []byte
	}{{"train.json", train.Bytes()}, {"test.json", test.Bytes()}, {"meta.json", meta.Bytes()}} {
		if err := d.Store.Put(ctx, objstore.BucketProcessed, ProcessedKey(hash, part.name), part.body, "application/json"); err != nil {
			return fmt.Errorf("failed to store processed %s: %w", part.name, err)
		}
	}
	log.Info("preprocessed", "config_hash", hash, "train_windows", p.Stats.TrainWindows, "test_windows", p.Stats.TestWindows,
		"imputed_cells", p.Stats.ImputedCells, "seconds", time.Since(start).Seconds())
	return nil
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
