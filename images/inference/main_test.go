package main

import (
	"io"
	"strings"
	"testing"

	"github.com/flts/flts-e2e/pkg/config"
	"github.com/flts/flts-e2e/pkg/loadgen"
)

var env = config.MapEnv(map[string]string{"FLTS_S3_ACCESS_KEY": "a", "FLTS_S3_SECRET_KEY": "b", "POD_NAME": "inference-0"})

func TestParse(t *testing.T) {
	o, err := parse(nil, env, io.Discard)
	if err != nil || o.listen != ":8000" || o.metricsListen != ":9091" || o.server.MaxInferenceLength != 60 || o.server.MaxQueue != 64 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	if podName(env) != "inference-0" {
		t.Fatalf("pod name %q", podName(env))
	}
	_, err = parse(strings.Fields("--max-inference-length 0 --max-queue -1 --request-timeout 0s --listen x"), env, io.Discard)
	for _, want := range []string{"--max-inference-length", "--max-queue", "--request-timeout", "--listen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

// The load generator drops idle connections before a stopping pod closes
// its own (pkg/loadgen.IdleConnTimeout): the default drain delay must stay
// above it, or evictions cost requests again.
func TestDrainDelayOutlastsTheLoadGeneratorsIdleConnections(t *testing.T) {
	o, err := parse(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.server.DrainDelay <= loadgen.IdleConnTimeout {
		t.Fatalf("drain delay %s, the load generator keeps idle connections %s", o.server.DrainDelay, loadgen.IdleConnTimeout)
	}
}
