package preprocess

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Config is the preprocessing configuration. Its hash names a data version.
type Config struct {
	Window        int     `json:"window"`         // input steps per window
	Horizon       int     `json:"horizon"`        // the target is this many steps after the window
	TrainFraction float64 `json:"train_fraction"` // chronological share of rows used for training
	ImputeK       int     `json:"impute_k"`       // neighbours averaged by the KNN imputer
	StepSeconds   int     `json:"step_seconds"`   // grid period
	Seed          int64   `json:"seed"`           // seeds the raw-data generator when no file exists
	// RawSHA256 names the raw CSV the version is made from (its hex
	// SHA-256): part of the hash, so new data is a new version. The
	// pipeline fills it; empty for frames that come from no file.
	RawSHA256 string `json:"raw_sha256,omitempty"`
}

// DefaultConfig returns the original pipeline's settings.
func DefaultConfig() Config {
	return Config{Window: 10, Horizon: 1, TrainFraction: 0.8, ImputeK: 5, StepSeconds: 120, Seed: 42}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	switch {
	case c.Window < 1 || c.Window > 1000:
		return fmt.Errorf("window must be in [1, 1000], got %d", c.Window)
	case c.Horizon < 1 || c.Horizon > 1000:
		return fmt.Errorf("horizon must be in [1, 1000], got %d", c.Horizon)
	case !(c.TrainFraction > 0 && c.TrainFraction < 1):
		return fmt.Errorf("train_fraction must be in (0, 1), got %g", c.TrainFraction)
	case c.ImputeK < 1 || c.ImputeK > 100:
		return fmt.Errorf("impute_k must be in [1, 100], got %d", c.ImputeK)
	case c.StepSeconds < 1:
		return fmt.Errorf("step_seconds must be positive, got %d", c.StepSeconds)
	case c.RawSHA256 != "" && !isSHA256(c.RawSHA256):
		return fmt.Errorf("raw_sha256 must be 64 lowercase hex digits, got %q", c.RawSHA256)
	}
	return nil
}

// Hash returns the hex SHA-256 of the canonical JSON of the config:
// encoding/json of this struct, whose field order is fixed by the type,
// so equal configs always hash equally.
func (c Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		// A struct of ints and a float cannot fail to marshal unless the
		// float is NaN/Inf; hash its Go representation instead.
		b = fmt.Appendf(nil, "%#v", c)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
