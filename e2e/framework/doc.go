// Package framework holds the helpers of the FLTS e2e suite: suite
// configuration from the environment, timeouts derived from the cluster's
// own periods, clients that reach in-cluster services through the API
// server, HPA sampling and failure diagnostics.
//
// Helpers take one typed input, call GinkgoHelper() and poll with
// Eventually, in the manner of cluster-api's test framework.
package framework
