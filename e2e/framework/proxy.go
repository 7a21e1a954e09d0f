package framework

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// APIProxy reaches in-cluster HTTP endpoints through the API server's
// service and pod proxy, so the suite needs no port-forward and no extra
// host ports: only the inference Service has a NodePort (and on an
// existing cluster, where no host port is mapped, even it is reached
// through the service proxy).
type APIProxy struct {
	host      string
	transport http.RoundTripper
	client    *http.Client
}

// NewAPIProxy builds an APIProxy from the cluster's REST config.
func NewAPIProxy(cfg *rest.Config) (*APIProxy, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build API server transport: %w", err)
	}
	return &APIProxy{
		host:      strings.TrimSuffix(cfg.Host, "/"),
		transport: rt,
		client:    &http.Client{Transport: rt, Timeout: 30 * time.Second},
	}, nil
}

// Transport authenticates requests against the API server.
func (p *APIProxy) Transport() http.RoundTripper { return p.transport }

// Client is the HTTP client authenticated against the API server.
func (p *APIProxy) Client() *http.Client { return p.client }

// ServiceURL is the base URL of port on Service namespace/name.
func (p *APIProxy) ServiceURL(namespace, name string, port int) string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s:%d/proxy", p.host, namespace, name, port)
}

// PodURL is the base URL of port on Pod namespace/name.
func (p *APIProxy) PodURL(namespace, name string, port int) string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s:%d/proxy", p.host, namespace, name, port)
}
