package s3store

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
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

// A store that accepts connections and never answers must cost a caller
// the call timeout, not a hung handler.
func TestEveryCallEndsAtTheCallTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	s, err := New(Config{Endpoint: ln.Addr().String(), AccessKey: "a", SecretKey: "b", CallTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"EnsureBucket": func() error { return s.EnsureBucket(ctx, "bucket") },
		"Put":          func() error { return s.Put(ctx, "bucket", "k", []byte("x"), "") },
		"PutIfVersion": func() error { return s.PutIfVersion(ctx, "bucket", "k", []byte("x"), "", "") },
		"Get":          func() error { _, err := s.Get(ctx, "bucket", "k"); return err },
		"GetVersioned": func() error { _, _, err := s.GetVersioned(ctx, "bucket", "k"); return err },
		"Stat":         func() error { _, err := s.Stat(ctx, "bucket", "k"); return err },
		"List":         func() error { _, err := s.List(ctx, "bucket", ""); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Errorf("%s against a silent store: %v, want the call timeout", name, err)
		}
	}
}
