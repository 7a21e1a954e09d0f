package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestBadUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"node-image bad version", []string{"node-image", "--k8s-version", "v1.99.0"}, "supported versions are v1.34.4"},
		{"node-image two modes", []string{"node-image", "--base-only", "--metrics-server-only"}, "exclude each other"},
		{"node-image stray argument", []string{"node-image", "extra"}, "unexpected arguments"},
		{"engine argument", []string{"engine", "now"}, "takes no arguments"},
		{"load without file", []string{"load"}, "exactly one FILE"},
		{"unknown flag", []string{"--frobnicate"}, "frobnicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), c.args, &out, &errOut)
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error()+errOut.String(), c.want) {
				t.Errorf("error %q (stderr %q) lacks %q", err, errOut.String(), c.want)
			}
		})
	}
}
