package main

import (
	"strings"
	"testing"
)

func TestSelectLegNeedsExactlyOneMatch(t *testing.T) {
	legs := []map[string]any{
		{"k8s": "v1.34.4", "node-image": "kindest/node:v1.34.0@sha256:x"},
		{"k8s": "v1.34.4", "node-image": ""},
	}
	leg, err := selectLeg(legs, map[string]string{"node-image": ""})
	if err != nil || leg["node-image"] != "" {
		t.Fatalf("offline leg: %v, %v", leg, err)
	}
	if _, err := selectLeg(legs, map[string]string{"k8s": "v1.34.4"}); err == nil || !strings.Contains(err.Error(), "matches 2") {
		t.Errorf("two matches: %v", err)
	}
	if _, err := selectLeg(legs, map[string]string{"k8s": "v1.30.0"}); err == nil || !strings.Contains(err.Error(), "legs:") {
		t.Errorf("no match must list the legs: %v", err)
	}
	if leg, err := selectLeg([]map[string]any{{}}, nil); err != nil || len(leg) != 0 {
		t.Errorf("a job without a matrix: %v, %v", leg, err)
	}
}
