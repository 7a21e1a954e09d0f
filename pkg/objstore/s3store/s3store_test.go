package s3store

import (
	"strings"
	"testing"
)

func TestNewRequiresEndpointAndCredentials(t *testing.T) {
	cases := map[string]Config{
		"empty endpoint":            {AccessKey: "a", SecretKey: "b"},
		"access key and secret key": {Endpoint: "127.0.0.1:9000", SecretKey: "b"},
	}
	for want, cfg := range cases {
		if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%+v) error = %v, want it to mention %q", cfg, err, want)
		}
	}
	if _, err := New(Config{Endpoint: "127.0.0.1:9000", AccessKey: "a", SecretKey: "b"}, nil); err != nil {
		t.Fatalf("New(valid config): %v", err)
	}
}
