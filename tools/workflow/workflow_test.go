package workflow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeContext resolves paths from a flat map and knows two functions.
type fakeContext struct {
	vars      map[string]Value
	cancelled bool
}

func (c fakeContext) Lookup(path []string) (Value, error) {
	v, ok := c.vars[strings.Join(path, ".")]
	if !ok {
		return nil, nil
	}
	return v, nil
}

func (c fakeContext) Call(name string, args []Value) (Value, error) {
	switch name {
	case "cancelled":
		return c.cancelled, nil
	case "success":
		return !c.cancelled, nil
	case "always":
		return true, nil
	case "join":
		var s []string
		for _, a := range args {
			s = append(s, String(a))
		}
		return strings.Join(s, "+"), nil
	}
	return nil, fmt.Errorf("unknown function %s", name)
}

func TestEvalTheWorkflowsExpressions(t *testing.T) {
	ctx := fakeContext{vars: map[string]Value{
		"matrix.node-image": "",
		"matrix.k8s":        "v1.34.4",
		"steps.node-cache.outputs.cache-matched-key": "flts-node-abc",
		"steps.node-cache.outputs.cache-primary-key": "flts-node-abc",
	}}
	for expr, want := range map[string]string{
		"matrix.node-image == '' && 130 || 90":                "130",
		"matrix.node-image == '' && 'built' || 'kindest'":     "built",
		"matrix.node-image || 'node image built from source'": "node image built from source",
		"matrix['k8s']": "v1.34.4",
		"!cancelled() && matrix.node-image == ''":                                                  "true",
		"steps.node-cache.outputs.cache-matched-key != ''":                                         "true",
		"steps.node-cache.outputs.cache-primary-key == steps.node-cache.outputs.cache-matched-key": "true",
		"steps.missing.outputs.key != ''":                                                          "false",
		"join('a', matrix.k8s, 'it''s')":                                                           "a+v1.34.4+it's",
		"(1 == 1) && !(2 == 3)":                                                                    "true",
		"'ABC' == 'abc'":                                                                           "true",
		"'1' == 1":                                                                                 "true",
		"'x' == 0":                                                                                 "false",
		"true || nosuch()":                                                                         "true",
		"false && nosuch.x.y":                                                                      "false",
		"matrix.k8s || nosuch()":                                                                   "v1.34.4",
	} {
		v, err := Eval(expr, ctx)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := String(v); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	ctx.vars["matrix.node-image"] = "kindest/node:v1.34.0"
	if v, _ := Eval("matrix.node-image == '' && 130 || 90", ctx); String(v) != "90" {
		t.Errorf("kindest leg timeout = %v, want 90", v)
	}
}

func TestEvalRejectsWhatItCannotRead(t *testing.T) {
	for _, expr := range []string{"'open", "a ==", "nosuch()", "a.", "(1", "a[1]", "1 ~ 2", ""} {
		if _, err := Eval(expr, fakeContext{}); err == nil {
			t.Errorf("%q: want an error", expr)
		}
	}
}

func TestConditionDefaultsToSuccess(t *testing.T) {
	for _, tc := range []struct {
		cond      string
		cancelled bool
		want      bool
	}{
		{"", false, true},
		{"", true, false},
		{"always()", true, true},
		{"${{ !cancelled() }}", false, true},
		{"${{ !cancelled() }}", true, false},
		// No status function: success() && (condition), as on GitHub.
		{"1 == 1", false, true},
		{"1 == 1", true, false},
		{"${{ 'a' != '' }}", true, false},
		{"Always() && 1 == 1", true, true},
	} {
		got, err := Condition(tc.cond, fakeContext{cancelled: tc.cancelled})
		if err != nil || got != tc.want {
			t.Errorf("Condition(%q, cancelled=%v) = %v, %v; want %v", tc.cond, tc.cancelled, got, err, tc.want)
		}
	}
}

func TestInterpolate(t *testing.T) {
	ctx := fakeContext{vars: map[string]Value{"env.A": "x", "github.workspace": "/w"}}
	got, err := Interpolate("${{ github.workspace }}/_cache/${{env.A}}-${{ env.B }}.", ctx)
	if err != nil || got != "/w/_cache/x-." {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := Interpolate("${{ env.A ", ctx); err == nil {
		t.Error("want an error for an unterminated expression")
	}
}

func TestTheProjectsWorkflowParses(t *testing.T) {
	wf, err := Load(filepath.Join("..", "..", ".github", "workflows", "e2e.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e2e := wf.Jobs["e2e"]
	if e2e == nil || len(e2e.Needs) != 1 || e2e.Needs[0] != "test" {
		t.Fatalf("e2e job missing or not after test: %+v", e2e)
	}
	built := false
	for _, leg := range e2e.Legs() {
		if leg["node-image"] == "" {
			built = true
		}
	}
	if !built {
		t.Error("no leg builds the node image from source")
	}
	for _, s := range e2e.Steps {
		if s.Title() == "" {
			t.Errorf("a step has no title: %+v", s)
		}
	}
}

func TestParseRejectsAStepWithBothUsesAndRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(path, []byte("jobs:\n  a:\n    steps:\n      - uses: x\n        run: y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "exactly one of uses and run") {
		t.Fatalf("got %v", err)
	}
}

func TestHashFiles(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.sum", "a")
	write("tools/nodeimage/build.go", "b")
	write("tools/nodeimage/sub/x.go", "c")
	write("tools/other/y.go", "d")
	sum, err := HashFiles(root, []string{"go.sum"})
	if err != nil || len(sum) != 64 {
		t.Fatalf("go.sum: %q, %v", sum, err)
	}
	tree, _ := HashFiles(root, []string{"tools/nodeimage/**"})
	write("tools/other/y.go", "changed")
	if again, _ := HashFiles(root, []string{"tools/nodeimage/**"}); again != tree {
		t.Error("a file outside the pattern changed the hash")
	}
	write("tools/nodeimage/sub/x.go", "changed")
	if again, _ := HashFiles(root, []string{"tools/nodeimage/**"}); again == tree {
		t.Error("a file under the pattern changed and the hash did not")
	}
	if none, err := HashFiles(root, []string{"nothing/**"}); none != "" || err != nil {
		t.Errorf("no match: %q, %v; want empty", none, err)
	}
}
