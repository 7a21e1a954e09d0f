package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/flts/flts-e2e/pkg/atomicfile"
)

// File layout inside the artifacts directory.
const (
	ReportFile = "K8S_LOAD_TEST_REPORT.md"
	DataDir    = "report-data"
	PlotDir    = "plots"
	hpaFile    = "hpa.json"
)

// SaveLevel stores a level's data (replacing an earlier run of the same
// number of users) and returns the file's path.
func SaveLevel(dir string, l LevelResult) (string, error) {
	if l.Users < 1 {
		return "", fmt.Errorf("failed to save load level: users must be >= 1, got %d", l.Users)
	}
	return saveJSON(filepath.Join(dir, DataDir, fmt.Sprintf("level-%05du.json", l.Users)), l)
}

// SaveHPA stores the HPA run's data and returns the file's path.
func SaveHPA(dir string, h HPARun) (string, error) {
	return saveJSON(filepath.Join(dir, DataDir, hpaFile), h)
}

// Data is everything found in an artifacts directory.
type Data struct {
	Levels []LevelResult // by users
	HPA    *HPARun
	Files  []string // relative to the artifacts directory

	Baselines []BaselineResult // the Docker Compose baseline's levels, by users (baseline.go)
}

// Load reads all data files under dir.
func Load(dir string) (Data, error) {
	var d Data
	paths, err := filepath.Glob(filepath.Join(dir, DataDir, "level-*.json"))
	if err != nil {
		return d, fmt.Errorf("failed to list level data in %s: %w", dir, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var l LevelResult
		if err := loadJSON(p, &l); err != nil {
			return d, err
		}
		d.Levels = append(d.Levels, l)
		d.Files = append(d.Files, filepath.Join(DataDir, filepath.Base(p)))
	}
	sort.SliceStable(d.Levels, func(i, j int) bool { return d.Levels[i].Users < d.Levels[j].Users })
	hp := filepath.Join(dir, DataDir, hpaFile)
	if _, err := os.Stat(hp); err == nil {
		var h HPARun
		if err := loadJSON(hp, &h); err != nil {
			return d, err
		}
		d.HPA = &h
		d.Files = append(d.Files, filepath.Join(DataDir, hpaFile))
	} else if !errors.Is(err, os.ErrNotExist) {
		return d, fmt.Errorf("failed to stat %s: %w", hp, err)
	}
	return d, loadBaselines(dir, &d)
}

func saveJSON(path string, v any) (string, error) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return "", fmt.Errorf("failed to encode %s: %w", filepath.Base(path), err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("failed to decode %s: %w", path, err)
	}
	return nil
}
