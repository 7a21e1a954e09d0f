package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	got, err := parseStages(strings.NewReader("engine\t54\t0\nnode image\t840\t0\nsuite\t700\t2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []stage{{"engine", 54 * time.Second, "ok"}, {"node image", 840 * time.Second, "ok"}, {"suite", 700 * time.Second, "exit 2"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stage %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := parseStages(strings.NewReader("engine 54 0\n")); err == nil {
		t.Error("want an error for a line without tabs")
	}
	if _, err := parseStages(strings.NewReader("engine\tfast\t0\n")); err == nil {
		t.Error("want an error for non-numeric seconds")
	}
}

func TestFormatTableHasEveryStageAndTheTotal(t *testing.T) {
	out := formatTable([]stage{{"engine", 54 * time.Second, "ok"}, {"suite", 12 * time.Minute, "exit 1"}}, 40*time.Minute)
	for _, want := range []string{"engine", "54s", "suite", "12m0s", "exit 1", "total", "40m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
