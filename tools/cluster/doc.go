// Package cluster brings up the project's kind cluster fully offline:
// Docker engine (tools/engine), network guard (tools/netguard), node image
// built from source (tools/nodeimage), the kind cluster through kind's Go
// library, and metrics-server built from its module; then it waits until
// the node, CoreDNS and the metrics API are usable, logging each stage and
// its elapsed time.
package cluster
