package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flts/flts-e2e/e2e/framework/report"
	"github.com/flts/flts-e2e/tools/compose"
)

func noEnv(string) (string, bool) { return "", false }

func TestBadUsageExits2WithAMessage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"restart"}, `unknown command "restart"`},
		{[]string{"up", "extra"}, "unexpected arguments"},
		{[]string{"up", "--wait-timeout", "-1s"}, "-wait-timeout"},
		{[]string{"down", "--tag", ""}, "-tag"},
		{[]string{"load"}, "-users must be >= 1"},
		{[]string{"load", "--users", "ten"}, "invalid value"},
		{[]string{"load", "--users", "200", "--workers", "0"}, "-workers"},
		{[]string{"load", "--users", "200", "--duration", "30s", "--ramp-up", "30s"}, "-ramp-up 30s must be shorter"},
		{[]string{"load", "--users", "200", "--think-min", "3s"}, "think time"},
		{[]string{"load", "--users", "200", "--mix", "all"}, "-mix"},
		{[]string{"load", "--users", "200", "--timeout", "0s"}, "-timeout > 0"},
	} {
		var out, errb bytes.Buffer
		if code := command(&out).Exec(context.Background(), tc.args, noEnv, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func TestEmptyImageTagMeansTheDefault(t *testing.T) {
	getenv := func(k string) (string, bool) {
		if k == "IMAGE_TAG" {
			return "", true
		}
		return "", false
	}
	var errb bytes.Buffer
	// An empty IMAGE_TAG is unset: the default stands.
	o, err := parse([]string{"down"}, getenv, &errb)
	if err != nil || o.tag != "e2e" {
		t.Errorf("parse = %+v, %v", o, err)
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"load", "-h"}} {
		var out, errb bytes.Buffer
		if code := command(&out).Exec(context.Background(), args, noEnv, &errb); code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	var errb bytes.Buffer
	o, err := parse([]string{"load", "--users", "200"}, noEnv, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if !o.autoDuration || o.load.Workers != compose.DefaultWorkers || o.load.RampUp != compose.DefaultRampUp || o.tag != "e2e" {
		t.Errorf("defaults %+v", o)
	}
	o, err = parse([]string{"load", "--users", "200", "--duration", "90s"}, noEnv, &errb)
	if err != nil || o.autoDuration || o.load.Duration != 90*time.Second {
		t.Errorf("explicit duration: %+v, %v", o, err)
	}
}

func TestLevelDurationFollowsTheKubernetesLevel(t *testing.T) {
	dir := t.TempDir()
	d, from, err := levelDuration(dir, 200)
	if err != nil || d != compose.DefaultDuration || !strings.Contains(from, "kind") {
		t.Errorf("no data: %s (%s), %v; want the default", d, from, err)
	}
	if _, err := report.SaveLevel(dir, report.LevelResult{Users: 200, Workers: 4, Duration: 137 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := report.SaveLevel(dir, report.LevelResult{Users: 400, Workers: 4, Duration: 150 * time.Second}); err != nil {
		t.Fatal(err)
	}
	d, from, err = levelDuration(dir, 200)
	if err != nil || d != 137*time.Second || !strings.Contains(from, "Kubernetes level of 200 users") {
		t.Errorf("with the level: %s (%s), %v; want 2m17s from it", d, from, err)
	}
}
