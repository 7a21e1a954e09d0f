package main

import (
	"io"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/config"
)

var env = config.MapEnv(map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b"})

func TestParse(t *testing.T) {
	o, err := parse([]string{"--rows", "500", "--seed", "3"}, env, io.Discard)
	if err != nil || o.rows != 500 || o.seed != 3 || o.Common.S3AccessKey != "a" {
		t.Fatalf("valid flags: %+v %v", o, err)
	}
	_, err = parse([]string{"--rows", "5", "--seed", "-1", "--log-level", "x"}, env, io.Discard)
	for _, want := range []string{"--rows", "--seed", "--log-level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
