package persistence

import (
	"testing"
	"time"
)

func TestPersistenceRepeatsLastRow(t *testing.T) {
	m := Model{Targets: 2}
	dst := make([]float64, 2)
	if err := m.PredictStep([][]float64{{1, 2, 9}, {3, 4, 9}}, time.Time{}, time.Time{}, dst); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 3 || dst[1] != 4 {
		t.Fatalf("got %v, want [3 4]", dst)
	}
	if err := m.PredictStep(nil, time.Time{}, time.Time{}, dst); err == nil {
		t.Fatal("empty window accepted")
	}
}
