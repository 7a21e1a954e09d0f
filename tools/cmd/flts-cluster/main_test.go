package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBadUsageExitsTwo(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, nil, "missing command"},
		{"unknown command", []string{"explode"}, nil, `unknown command "explode"`},
		{"engine moved to flts-images", []string{"engine"}, nil, `unknown command "engine"`},
		{"unknown flag", []string{"up", "-frobnicate"}, nil, "frobnicate"},
		{"unsupported version", []string{"up", "-k8s-version", "v1.99.0"}, nil, "supported versions are v1.34.4"},
		{"unsupported version from env", []string{"up"}, map[string]string{"K8S_VERSION": "v1.20.0"}, "unsupported Kubernetes version"},
		{"node image of another minor", []string{"up", "-k8s-version", "v1.34.4"}, map[string]string{"KIND_NODE_IMAGE": "kindest/node:v1.33.4"}, "runs Kubernetes v1.33.4, but K8S_VERSION is v1.34.4"},
		{"node image with an unsupported version", []string{"up", "-k8s-version", "v1.33.13"}, map[string]string{"KIND_NODE_IMAGE": "kindest/node:v1.33.4"}, "supported versions are"},
		{"bad reuse env", []string{"up"}, map[string]string{"E2E_REUSE_CLUSTER": "maybe"}, "E2E_REUSE_CLUSTER"},
		{"stray argument", []string{"down", "extra"}, nil, "unexpected arguments"},
		{"load without images", []string{"load"}, nil, "at least one image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, &out, &errOut)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, errOut.String())
			}
		})
	}
}
