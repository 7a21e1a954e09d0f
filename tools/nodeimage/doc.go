// Package nodeimage builds a kind node image with no container registry:
// a debootstrap Debian base carrying kind's base files, Kubernetes compiled
// from the k8s.io/kubernetes module, and every image kubeadm needs (control
// plane, kube-proxy, etcd, CoreDNS, pause) built locally and preloaded into
// the node's containerd.
//
// Results are cached as Docker images labelled with a content key over
// every input (versions, package list, builder sources, kind base files):
// an unchanged rebuild only inspects a label.
package nodeimage
