package compose

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flts/flts-e2e/tools/reporoot"
)

// composeService is the part of compose.yaml the contract tests read.
type composeService struct {
	Image       string            `json:"image"`
	Build       any               `json:"build"`
	Ports       []any             `json:"ports"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	User        string            `json:"user"`
	ReadOnly    bool              `json:"read_only"`
	CapDrop     []string          `json:"cap_drop"`
	Profiles    []string          `json:"profiles"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Deploy struct {
		Resources struct {
			Limits struct {
				CPUs   string `json:"cpus"`
				Memory string `json:"memory"`
			} `json:"limits"`
		} `json:"resources"`
	} `json:"deploy"`
}

type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Networks map[string]struct {
		Internal bool `json:"internal"`
	} `json:"networks"`
}

func readYAML(t *testing.T, root, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// chartValues is the part of the chart's values the stack mirrors.
type resources struct {
	Limits struct {
		CPU    string `json:"cpu"`
		Memory string `json:"memory"`
	} `json:"limits"`
}

type chartValues struct {
	LogLevel string `json:"logLevel"`
	Image    struct {
		Registry string `json:"registry"`
		Tag      string `json:"tag"`
	} `json:"image"`
	Training struct {
		Resources resources `json:"resources"`
		Models    []struct {
			Name   string         `json:"name"`
			Type   string         `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"models"`
	} `json:"training"`
	NATS       struct{ Resources resources } `json:"nats"`
	MinIO      struct{ Resources resources } `json:"minio"`
	Tracking   struct{ Resources resources } `json:"tracking"`
	Preprocess struct{ Resources resources } `json:"preprocess"`
	Eval       struct{ Resources resources } `json:"eval"`
	Inference  struct{ Resources resources } `json:"inference"`
}

// composeLimits renders a chart limit as compose.yaml writes it: CPUs in
// cores, memory with Compose's binary units (256M is 256 MiB).
func composeLimits(r resources) (string, string) {
	cpu := r.Limits.CPU
	if m, ok := strings.CutSuffix(cpu, "m"); ok {
		var milli int
		fmt.Sscan(m, &milli)
		cpu = strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", float64(milli)/1000), "0"), ".")
	}
	return cpu, strings.Replace(r.Limits.Memory, "Mi", "M", 1)
}

// TestComposeFileMirrorsTheChart holds compose.yaml to the chart with
// values-e2e.yaml, the configuration the suite measures: the same images,
// trainers, environment, limits and hardening, and nothing that builds,
// pulls, publishes or reaches out.
func TestComposeFileMirrorsTheChart(t *testing.T) {
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	readYAML(t, root, File, &f)
	var values, e2e chartValues
	readYAML(t, root, "fixtures/charts/flts/values.yaml", &values)
	readYAML(t, root, "fixtures/charts/flts/values-e2e.yaml", &e2e)

	if f.Name != Project {
		t.Errorf("project name %q, want %q (Down finds the stack by it)", f.Name, Project)
	}
	if !f.Networks["default"].Internal {
		t.Error("the default network is not internal: containers could reach outside this machine")
	}
	images := map[string]bool{}
	for name, svc := range f.Services {
		image, ok := strings.CutPrefix(svc.Image, e2e.Image.Registry+"/")
		component, tag, _ := strings.Cut(image, ":")
		if !ok || tag != "${IMAGE_TAG:-"+e2e.Image.Tag+"}" {
			t.Errorf("%s runs %q, want %s/<component>:${IMAGE_TAG:-%s}", name, svc.Image, e2e.Image.Registry, e2e.Image.Tag)
		}
		images[component] = true
		if svc.Build != nil || len(svc.Ports) > 0 {
			t.Errorf("%s has a build section or published ports", name)
		}
		if svc.User != "65532:65532" || !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) {
			t.Errorf("%s is not hardened as the chart's pods: user %q read_only %t cap_drop %q", name, svc.User, svc.ReadOnly, svc.CapDrop)
		}
		oneShot := name == "preprocess" || slices.Contains(svc.Profiles, loadProfile)
		if hasCheck := svc.Healthcheck != nil && len(svc.Healthcheck.Test) > 2 && svc.Healthcheck.Test[1] == "/flts-probe"; hasCheck == oneShot {
			t.Errorf("%s: health check through the probe %t, want %t", name, hasCheck, !oneShot)
		}
	}
	if got := slices.Sorted(maps.Keys(images)); !slices.Equal(got, slices.Sorted(slices.Values(Images))) {
		t.Errorf("images %q, Images %q", got, Images)
	}

	// Every trainer of values-e2e.yaml, with the chart's arguments.
	for _, m := range e2e.Training.Models {
		want := []string{"--model", m.Type}
		for _, k := range slices.Sorted(maps.Keys(m.Params)) {
			want = append(want, fmt.Sprintf("--%s=%v", k, m.Params[k]))
		}
		if got := f.Services["train-"+m.Name].Command; !slices.Equal(got, want) {
			t.Errorf("train-%s command %q, want %q", m.Name, got, want)
		}
	}

	// The chart's pipeline environment (flts.pipelineEnv) on every
	// pipeline service, with values-e2e's log level.
	helpers, err := os.ReadFile(filepath.Join(root, "fixtures/charts/flts/templates/_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	block := string(helpers)[strings.Index(string(helpers), `define "flts.pipelineEnv"`):]
	block = block[:strings.Index(block, "{{- end -}}")]
	envNames := regexp.MustCompile(`- name: (\w+)`).FindAllStringSubmatch(block, -1)
	if len(envNames) < 8 {
		t.Fatalf("found only %d variables in flts.pipelineEnv", len(envNames))
	}
	for _, name := range []string{"tracking", "preprocess", "train-gru", "eval", "inference"} {
		env := f.Services[name].Environment
		for _, m := range envNames {
			if env[m[1]] == "" {
				t.Errorf("%s lacks %s of the chart's pipeline environment", name, m[1])
			}
		}
		if env["FLTS_LOG_LEVEL"] != e2e.LogLevel {
			t.Errorf("%s log level %q, values-e2e %q", name, env["FLTS_LOG_LEVEL"], e2e.LogLevel)
		}
	}

	// The chart's limits (values-e2e.yaml sets inference's again).
	for name, r := range map[string]resources{"nats": values.NATS.Resources, "minio": values.MinIO.Resources,
		"tracking": values.Tracking.Resources, "preprocess": values.Preprocess.Resources, "eval": values.Eval.Resources,
		"train-gru": values.Training.Resources, "train-lstm": values.Training.Resources, "train-prophet": values.Training.Resources,
		"inference": e2e.Inference.Resources} {
		cpu, mem := composeLimits(r)
		if l := f.Services[name].Deploy.Resources.Limits; l.CPUs != cpu || l.Memory != mem {
			t.Errorf("%s limits %s CPU %s, want the chart's %s / %s", name, l.CPUs, l.Memory, cpu, mem)
		}
	}
}
