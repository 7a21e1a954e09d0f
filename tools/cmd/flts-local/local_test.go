package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/pkg/model"
	"github.com/flts/flts-e2e/pkg/pipeline"
)

func TestLocalRunPromotesAndServes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three models")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	o := options{dir: t.TempDir(), rows: 600, seed: 3, epochs: 1, hidden: 4, listen: "127.0.0.1:0", promotionTimeout: time.Minute}
	l, err := setup(ctx, o, &out, nil)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	defer l.close()
	p, err := pipeline.ReadPromotion(ctx, l.store)
	if err != nil {
		t.Fatalf("no current.json: %v", err)
	}
	if p.RunID != l.promotion.RunID || len(p.Candidates) != len(model.Types) || p.Score != p.Candidates[0].Score {
		t.Fatalf("promotion %+v", p)
	}
	for _, c := range p.Candidates {
		if c.Score < p.Score {
			t.Fatalf("%s scored %g, below the promoted %g", c.ModelType, c.Score, p.Score)
		}
	}
	if !strings.Contains(out.String(), "promoted "+p.ModelType) {
		t.Fatalf("output does not name the winner:\n%s", out.String())
	}
	if _, err := selfCheck(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejectsBadFlags(t *testing.T) {
	_, _, err := parse(strings.Fields("--rows 10 --epochs 0 --listen nope --log-level x"), io.Discard)
	for _, want := range []string{"--rows", "--epochs", "--listen", "--log-level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestLocalRefusesABadCSVBeforeStoringIt(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "kpis.csv")
	if err := os.WriteFile(csv, []byte("when,down\n2024-01-01T00:00:00Z,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := options{dir: dir, csv: csv, rows: 600, seed: 3, epochs: 1, hidden: 4, listen: "127.0.0.1:0", promotionTimeout: time.Minute}
	var out strings.Builder
	l, err := setup(t.Context(), o, &out, nil)
	if err == nil {
		l.close()
		t.Fatal("a CSV without the KPI columns was accepted")
	}
	if !strings.Contains(err.Error(), "dataset "+csv+" refused") || !strings.Contains(err.Error(), "line 1: header lacks column(s)") {
		t.Fatalf("want an error naming the file and the line, got %v", err)
	}
	stored, _ := filepath.Glob(filepath.Join(dir, "*", "dataset", "*"))
	more, _ := filepath.Glob(filepath.Join(dir, "dataset", "*"))
	if len(stored)+len(more) != 0 {
		t.Fatalf("a refused dataset left %q", append(stored, more...))
	}
}

func TestParseRejectsAMissingCSV(t *testing.T) {
	_, _, err := parse([]string{"--csv", filepath.Join(t.TempDir(), "absent.csv")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--csv") {
		t.Fatalf("got %v", err)
	}
}
