package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartEmbedded runs a NATS server with JetStream in this process, storing
// its streams under dir and listening on a random loopback port. It serves
// unit tests and the local run. stop shuts the server down and waits.
func StartEmbedded(dir string) (url string, stop func(), err error) {
	return StartEmbeddedOn(dir, server.RANDOM_PORT)
}

// StartEmbeddedOn is StartEmbedded on a chosen loopback port (a test that
// starts the broker after its client, or a restart on the same address).
func StartEmbeddedOn(dir string, port int) (url string, stop func(), err error) {
	if dir == "" {
		return "", nil, errors.New("failed to start embedded NATS: empty store directory")
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "flts-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return "", nil, fmt.Errorf("failed to create embedded NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return "", nil, errors.New("failed to start embedded NATS server: not ready after 10s")
	}
	stop = func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	return srv.ClientURL(), stop, nil
}
