# flts-e2e: the FLTS forecasting pipeline in Go and the suite that proves it on kind.
#
# The two commands of the README:
#   make e2e          the main job: cluster, images, chart, every check, the report
#   make test e2e     the test command (what .ci/run runs): unit and chart tests, then the e2e suite

SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := help

K8S_VERSION       ?= v1.34.4
CLUSTER_NAME      ?= flts-e2e
ARTIFACTS         ?= $(CURDIR)/_artifacts
GINKGO_ARGS       ?=
E2E_TIMEOUT       ?= 80m
USERS             ?= 200
DURATION          ?= 60s
IMAGE_TAG         ?= e2e
# The kubeconfig `make cluster` and the suite write (tools/cluster).
CLUSTER_KUBECONFIG ?= $(CURDIR)/_cache/flts-cluster/kubeconfig
export K8S_VERSION CLUSTER_NAME ARTIFACTS IMAGE_TAG KIND_NODE_IMAGE E2E_KEEP_CLUSTER E2E_REUSE_CLUSTER

GO      ?= go
GINKGO  := $(GO) tool ginkgo
BIN     := $(CURDIR)/_output/bin
PKGS    := ./pkg/... ./tools/... ./fixtures/... ./images/... ./e2e/framework/...

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Tests

.PHONY: test
test: vet unit test-integration helm-lint actionlint ## Unit and chart tests (-race), MinIO integration, go vet, helm lint, actionlint.

.PHONY: unit
unit: ## Unit and chart tests with the race detector.
	$(GO) test -race -count=1 $(PKGS)

.PHONY: vet
vet: ## gofmt check and go vet.
	@out=$$(gofmt -l pkg tools fixtures images e2e); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: helm-lint
helm-lint: $(BIN)/helm ## helm lint the chart with every values file.
	@for f in fixtures/charts/flts/values*.yaml; do \
		echo "helm lint -f $$f"; $(BIN)/helm lint fixtures/charts/flts -f $$f --quiet || exit 1; done

.PHONY: actionlint
actionlint: ## Lint the GitHub Actions workflows.
	$(GO) tool actionlint

.PHONY: e2e
e2e: ## Cluster integration check, then the whole Ginkgo suite (GINKGO_ARGS='--focus=HPA' for one area).
	@mkdir -p $(ARTIFACTS)
	@# The cluster integration check creates a fresh cluster (or reuses one with
	@# E2E_REUSE_CLUSTER=1) and checks it: node Ready, DNS from a pod, NodePort
	@# from the host over both pods, metrics API. The suite then reuses it and
	@# deletes it at the end; Ctrl-C or a failed check removes it too, unless
	@# E2E_KEEP_CLUSTER=1.
	@set -e; \
	cleanup() { if [ "$${E2E_KEEP_CLUSTER:-0}" != 1 ]; then $(GO) run ./tools/cmd/flts-cluster down; fi; }; \
	trap 'cleanup; exit 130' INT TERM; \
	$(GO) test -count=1 -v -timeout=45m -tags clusterintegration -run TestClusterIntegration ./tools/cluster \
		|| { cleanup; exit 1; }; \
	E2E_REUSE_CLUSTER=1 $(GINKGO) -v --timeout=$(E2E_TIMEOUT) --poll-progress-after=120s --poll-progress-interval=60s $(GINKGO_ARGS) ./e2e

.PHONY: e2e-suite
e2e-suite: ## The Ginkgo suite alone (it brings up its own cluster).
	@mkdir -p $(ARTIFACTS)
	$(GINKGO) -v --timeout=$(E2E_TIMEOUT) --poll-progress-after=120s --poll-progress-interval=60s $(GINKGO_ARGS) ./e2e

.PHONY: bench
bench: ## Training and inference benchmarks (figures for the notes).
	$(GO) test -run='^$$' -bench=Train -benchtime=1x ./pkg/forecast/...
	$(GO) test -run='^$$' -bench=PredictHTTP -benchtime=3s ./pkg/inference/...

.PHONY: test-integration
test-integration: $(BIN)/minio ## The object-store adapter against a real MinIO built from its module.
	FLTS_MINIO_BIN=$(BIN)/minio $(GO) test -race -count=1 -tags integration ./pkg/objstore/... ./pkg/tracking/...

##@ Cluster and images

.PHONY: cluster
cluster: ## Create (or with E2E_REUSE_CLUSTER=1 reuse) the kind cluster with metrics-server.
	$(GO) run ./tools/cmd/flts-cluster up

.PHONY: cluster-down
cluster-down: ## Delete the kind cluster.
	$(GO) run ./tools/cmd/flts-cluster down

.PHONY: images
images: ## Build the pipeline images.
	$(GO) run ./tools/cmd/flts-images

.PHONY: loadtest
loadtest: ## One load level against a running cluster: make loadtest USERS=400 DURATION=90s
	$(GO) run ./tools/cmd/flts-loadtest --kubeconfig $(CLUSTER_KUBECONFIG) --users $(USERS) --duration $(DURATION) --artifacts $(ARTIFACTS)

.PHONY: local
local: ## The whole pipeline on this machine without Kubernetes, then the API on :8000.
	$(GO) run ./tools/cmd/flts-local

$(BIN)/helm: go.mod
	$(GO) build -o $@ helm.sh/helm/v3/cmd/helm

# The MinIO server pinned in images/minio/module.txt, as the image builds it.
$(BIN)/minio: images/minio/module.txt
	GOBIN=$(BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags='-s -w' $$(grep -v '^#' $< | head -n1)

.PHONY: clean
clean: cluster-down ## Delete the cluster and build outputs (caches stay).
	rm -rf _output $(ARTIFACTS)
