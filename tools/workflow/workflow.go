// Package workflow reads a GitHub Actions workflow file and evaluates the
// part of its expression language the project's workflows use, so a local
// runner (flts-ci-local) can run a job's steps as GitHub would.
package workflow

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Workflow is the subset of a workflow file a job run needs.
type Workflow struct {
	Name string            `json:"name"`
	Env  map[string]string `json:"env"`
	Jobs map[string]*Job   `json:"jobs"`
}

// Job is one entry of jobs:.
type Job struct {
	Name           string            `json:"name"`
	Needs          StringList        `json:"needs"`
	RunsOn         string            `json:"runs-on"`
	TimeoutMinutes Scalar            `json:"timeout-minutes"`
	Strategy       Strategy          `json:"strategy"`
	Env            map[string]string `json:"env"`
	Steps          []Step            `json:"steps"`
}

// Strategy holds the matrix; only include: lists are used here.
type Strategy struct {
	Matrix struct {
		Include []map[string]any `json:"include"`
	} `json:"matrix"`
}

// Step is one entry of steps:.
type Step struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	If             string            `json:"if"`
	Uses           string            `json:"uses"`
	Run            string            `json:"run"`
	Shell          string            `json:"shell"`
	With           map[string]Scalar `json:"with"`
	Env            map[string]string `json:"env"`
	TimeoutMinutes Scalar            `json:"timeout-minutes"`
}

// Title is what a log line calls the step.
func (s Step) Title() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Uses != "":
		return s.Uses
	}
	first, _, _ := strings.Cut(strings.TrimSpace(s.Run), "\n")
	return first
}

// Scalar is a YAML scalar kept as text: timeout-minutes is a number or an
// expression, with: values are strings, numbers or booleans.
type Scalar string

// UnmarshalJSON accepts any JSON scalar.
func (s *Scalar) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*s = ""
	case string:
		*s = Scalar(x)
	case float64:
		*s = Scalar(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		*s = Scalar(strconv.FormatBool(x))
	default:
		return fmt.Errorf("want a scalar, got %s", b)
	}
	return nil
}

// StringList is a YAML string or list of strings (needs:).
type StringList []string

// UnmarshalJSON accepts a string or a list of strings.
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*l = many
	return nil
}

// Load reads and parses a workflow file.
func Load(path string) (*Workflow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read workflow: %w", err)
	}
	wf, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse workflow %s: %w", path, err)
	}
	return wf, nil
}

// Parse parses a workflow document.
func Parse(data []byte) (*Workflow, error) {
	// Lenient: keys the runner does not need (on:, permissions:,
	// concurrency:) are ignored; what it relies on is checked below.
	var wf Workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		return nil, err
	}
	if len(wf.Jobs) == 0 {
		return nil, fmt.Errorf("no jobs")
	}
	for id, j := range wf.Jobs {
		if j == nil || len(j.Steps) == 0 {
			return nil, fmt.Errorf("job %q has no steps", id)
		}
		for i, s := range j.Steps {
			if (s.Uses == "") == (s.Run == "") {
				return nil, fmt.Errorf("job %q step %d (%s): want exactly one of uses and run", id, i+1, s.Title())
			}
		}
	}
	return &wf, nil
}

// JobIDs lists the job IDs in a stable order.
func (wf *Workflow) JobIDs() []string {
	ids := make([]string, 0, len(wf.Jobs))
	for id := range wf.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Legs returns the job's matrix legs (one empty leg without a matrix).
func (j *Job) Legs() []map[string]any {
	if len(j.Strategy.Matrix.Include) == 0 {
		return []map[string]any{{}}
	}
	return j.Strategy.Matrix.Include
}
