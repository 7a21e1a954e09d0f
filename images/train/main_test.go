package main

import (
	"io"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/config"
)

var env = config.MapEnv(map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b"})

func TestParse(t *testing.T) {
	o, err := parse([]string{"--model", "GRU", "--epochs=3", "--hidden=16", "--lr", "0.01"}, env, io.Discard)
	if err != nil || o.modelType != "GRU" {
		t.Fatalf("valid flags: %+v %v", o, err)
	}
	if o.params["epochs"] != "3" || o.params["hidden"] != "16" || o.params["learning_rate"] != "0.01" || len(o.params) != 3 {
		t.Fatalf("params %v: want only the explicit flags", o.params)
	}
	if o, err := parse([]string{"--model", "prophet", "--once"}, env, io.Discard); err != nil || o.modelType != "PROPHET" || !o.once || len(o.params) != 0 {
		t.Fatalf("prophet: %+v %v", o, err)
	}
	for args, want := range map[string]string{
		"":                           "--model is required",
		"--model arima":              "not one of",
		"--model gru --epochs 0":     "--epochs",
		"--model prophet --hidden 8": "gru and lstm only",
		"--model lstm --lr 2":        "--lr",
	} {
		_, err := parse(strings.Fields(args), env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", args, err, want)
		}
	}
}
