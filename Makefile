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
# Nested bounds: the builds have none (they report progress); the cluster
# check (cluster create and its waits, ~2 min warm) and the suite (set-up at
# most 44 min by its own node timeouts, ~21 min in all when healthy) each
# have one, and together with a cold build (~25 min) they stay inside the
# workflow's make step (115 min for the built-from-source leg, 75 for the
# others) and its job (130 / 90 min), so JUnit and diagnostics always land.
E2E_TIMEOUT       ?= 45m
CLUSTER_CHECK_TIMEOUT ?= 15m
E2E_BUNDLE        ?=
BUNDLE            ?= $(CURDIR)/_output/flts-images.tar
USERS             ?= 200
DURATION          ?= 60s
IMAGE_TAG         ?= e2e
# The kubeconfig `make cluster` and the suite write (tools/cluster).
CLUSTER_KUBECONFIG ?= $(CURDIR)/_cache/flts-cluster/kubeconfig
# An existing cluster instead of the suite's kind cluster (README, "Any
# cluster"): no node image, no cluster check; images pushed to E2E_REGISTRY
# or already on the nodes (E2E_IMAGES_PRELOADED=1).
E2E_KUBECONFIG    ?=
E2E_REGISTRY      ?=
E2E_IMAGES_PRELOADED ?=
export K8S_VERSION CLUSTER_NAME ARTIFACTS IMAGE_TAG KIND_NODE_IMAGE E2E_KEEP_CLUSTER E2E_REUSE_CLUSTER \
	E2E_KUBECONFIG E2E_REGISTRY E2E_IMAGES_PRELOADED
existing  := $(if $(E2E_KUBECONFIG),1)
ifneq ($(existing),)
# The suite runs from e2e/: a relative path is the user's, from here.
override E2E_KUBECONFIG := $(abspath $(E2E_KUBECONFIG))
else ifneq ($(E2E_REGISTRY)$(filter 1 t T true TRUE True,$(E2E_IMAGES_PRELOADED))$(E2E_INFERENCE_URL),)
# Caught before anything is built or a kind cluster created.
$(error E2E_REGISTRY, E2E_IMAGES_PRELOADED and E2E_INFERENCE_URL apply to an existing cluster only: set E2E_KUBECONFIG too (README, "Any cluster"))
endif
preloaded := $(if $(existing),$(filter 1 t T true TRUE True,$(E2E_IMAGES_PRELOADED)))
# Building and pushing images on an existing cluster needs a Docker engine
# that answers, not root or privileged containers (the kind nodes' needs).
engine_dep := $(if $(existing),engine-answers,engine)

GO      ?= go
GINKGO  := $(GO) tool ginkgo
BIN     := $(CURDIR)/_output/bin
PKGS    := ./pkg/... ./tools/... ./fixtures/... ./images/... ./e2e/framework/...
FLTS_CLUSTER := $(BIN)/flts-cluster
FLTS_IMAGES  := $(BIN)/flts-images

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Tests

.PHONY: test
test: vet staticcheck unit test-integration helm-lint actionlint ## Unit and chart tests (-race), MinIO integration, go vet, staticcheck, helm lint, actionlint.

.PHONY: unit
unit: ## Unit and chart tests with the race detector (and the memory flood test without it).
	@$(call beat,unit,$(GO) test -race -count=1 $(PKGS))
	@$(call beat,flood test,$(GO) test -count=1 -run '^TestFlood' ./pkg/inference/)

.PHONY: vet
vet: ## gofmt check and go vet.
	@out=$$(gofmt -l pkg tools fixtures images e2e); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(call beat,go vet,$(GO) vet -tags integration$(comma)clusterintegration ./...)

.PHONY: staticcheck
staticcheck: ## staticcheck (pinned in go.mod as a tool; config in staticcheck.conf).
	@$(call beat,staticcheck,$(GO) tool staticcheck -tags integration$(comma)clusterintegration ./...)

.PHONY: helm-lint
helm-lint: $(BIN)/helm ## helm lint the chart with every values file.
	@for f in fixtures/charts/flts/values*.yaml; do \
		echo "helm lint -f $$f"; $(BIN)/helm lint fixtures/charts/flts -f $$f --quiet || exit 1; done

.PHONY: actionlint
actionlint: ## Lint the GitHub Actions workflows.
	$(GO) tool actionlint

# Each step of `make e2e` appends "stage<TAB>seconds<TAB>exit status" to
# $(STAGES); `make e2e` and `make e2e-fresh` print the table at the end.
STAGES := $(ARTIFACTS)/stage-times.tsv
# $(call timed,NAME,COMMAND) runs COMMAND, prints a heartbeat line every
# 30 s while it runs (whatever COMMAND prints itself, a terminal is never
# silent longer than that) and records its time as NAME.
# (The heartbeat's sleep writes nowhere, so killing the loop leaves nothing
# holding the terminal or a pipe open; `wait` on the killed loop is not a
# failure, also under `set -e`.)
heartbeat_start = start=$$(date +%s); rc=0; \
	( while sleep 30 >/dev/null 2>&1; do echo "[make] $(1): running for $$(( $$(date +%s) - start ))s"; done ) & hb_pid=$$!;
heartbeat_stop = kill $$hb_pid 2>/dev/null || true; wait $$hb_pid 2>/dev/null || true;
timed = $(call heartbeat_start,$(1)) { $(2); } || rc=$$?; $(heartbeat_stop) \
	mkdir -p $(ARTIFACTS); printf '%s\t%s\t%s\n' '$(1)' $$(( $$(date +%s) - start )) $$rc >> $(STAGES); exit $$rc
# $(call beat,NAME,COMMAND) runs COMMAND (traced) with the same heartbeat:
# a cold go vet, staticcheck or go test compiles for minutes without a word.
# A comma in COMMAND must be written $(comma): make splits arguments on it.
beat = $(if $(3),$(error beat: a comma in "$(2),$(3)": write it as $$(comma)))$(call heartbeat_start,$(1)) ( set -x; $(2) ) || rc=$$?; $(heartbeat_stop) exit $$rc
comma := ,

# Builds are prerequisites of the tests and run before any of them, with no
# deadline of their own (each long step logs a heartbeat); the tests'
# timeouts cover cluster behaviour only. The builds run two at a time: the
# node image, the images and the test binaries are independent, and one
# build's module downloads and links fill the other's idle core.
.PHONY: e2e
e2e: ## Build everything, then the cluster check and the whole suite (GINKGO_ARGS='--focus=HPA' for one area).
	@mkdir -p $(ARTIFACTS); rm -f $(STAGES); date +%s > $(ARTIFACTS)/.e2e-start
	@rc=0; $(MAKE) --no-print-directory -j2 e2e-build && $(MAKE) --no-print-directory e2e-run || rc=$$?; \
	awk -F'\t' -v start=$$(cat $(ARTIFACTS)/.e2e-start) -v now=$$(date +%s) 'BEGIN { print "stage times (node image, images and compile overlap):" } \
		{ printf "  %-14s %5ds  %s\n", $$1, $$2, ($$3 == 0 ? "ok" : "exit " $$3) } \
		END { printf "  %-14s %5ds\n", "wall total", now - start }' $(STAGES); \
	exit $$rc

.PHONY: e2e-build
# An existing cluster needs no node image, and preloaded images no build.
e2e-build: $(if $(existing),,node-image) $(if $(preloaded),,images) e2e-compile

.PHONY: e2e-compile
# After tools, so two go commands never download the same modules at once.
e2e-compile: tools
	@# flts-cluster, Helm, Ginkgo and the test binaries of the check and the
	@# suite (kind and client-go, shared), compiled before any test deadline
	@# starts (go test and ginkgo then only link).
	@# -j1: a parallel sub-make would take the second job slot from the
	@# node image (which then waited for Helm's compile: 3.5 min lost).
	@$(call timed,compile suite,$(MAKE) --no-print-directory -j1 cluster-cli $(BIN)/helm \
		&& $(GO) test -c -o /dev/null -tags clusterintegration ./tools/cluster \
		&& $(GO) test -c -o /dev/null ./e2e && $(GINKGO) version)

.PHONY: e2e-run
ifneq ($(existing),)
e2e-run:
	@# The cluster check creates a kind cluster: on an existing cluster the
	@# suite checks what it needs itself (metrics API, default StorageClass).
	@$(call timed,suite,$(GINKGO) -v --timeout=$(E2E_TIMEOUT) --poll-progress-after=120s --poll-progress-interval=60s $(GINKGO_ARGS) ./e2e)
else
e2e-run:
	@# The cluster integration check creates a fresh cluster (or reuses one with
	@# E2E_REUSE_CLUSTER=1) and checks it: node Ready, DNS from a pod, NodePort
	@# from the host over both pods, metrics API. The suite then reuses it and
	@# deletes it at the end; Ctrl-C or a failed check removes it too, unless
	@# E2E_KEEP_CLUSTER=1.
	@set -e; \
	cleanup() { case "$${E2E_KEEP_CLUSTER:-0}" in 1|t|T|true|TRUE|True) ;; *) $(FLTS_CLUSTER) down ;; esac; }; \
	trap 'cleanup; exit 130' INT TERM; \
	( $(call timed,cluster check,$(GO) test -count=1 -v -timeout=$(CLUSTER_CHECK_TIMEOUT) -tags clusterintegration -run TestClusterIntegration ./tools/cluster) ) \
		|| { cleanup; exit 1; }; \
	$(call timed,suite,E2E_REUSE_CLUSTER=1 $(GINKGO) -v --timeout=$(E2E_TIMEOUT) --poll-progress-after=120s --poll-progress-interval=60s $(GINKGO_ARGS) ./e2e)
endif

.PHONY: e2e-suite
e2e-suite: $(if $(existing),,node-image) $(if $(preloaded),,images) e2e-compile ## The Ginkgo suite alone, without the cluster check (it brings up its own cluster).
	@mkdir -p $(ARTIFACTS)
	$(GINKGO) -v --timeout=$(E2E_TIMEOUT) --poll-progress-after=120s --poll-progress-interval=60s $(GINKGO_ARGS) ./e2e

.PHONY: e2e-existing
# The proof of E2E_KUBECONFIG/E2E_REGISTRY on this machine: a second kind
# cluster made as a user would make one (no host port, containerd reading
# hosts.toml), a registry built from its Go module on the kind network, then
# `make e2e` pointed at both; cluster, registry and an engine flts started
# are removed at the end, on failure and on Ctrl-C too (E2E_KEEP_CLUSTER=1
# keeps them).
EXISTING_NAME       ?= flts-existing
EXISTING_KUBECONFIG ?= $(CURDIR)/_cache/$(EXISTING_NAME)/kubeconfig
e2e-existing: engine node-image images cluster-cli ## make e2e on a cluster it did not create: a second kind cluster and a registry on the kind network (E2E_KUBECONFIG, E2E_REGISTRY).
	@$(call timed,registry image,$(FLTS_IMAGES) registry)
	@set -e; \
	cleanup() { case "$${E2E_KEEP_CLUSTER:-0}" in 1|t|T|true|TRUE|True) echo "kept: cluster $(EXISTING_NAME), registry"; return ;; esac; \
		$(FLTS_CLUSTER) registry-down || true; $(FLTS_CLUSTER) down --name $(EXISTING_NAME) || true; \
		rm -rf $(dir $(EXISTING_KUBECONFIG)); $(FLTS_IMAGES) engine --stop || true; }; \
	trap 'cleanup; exit 130' INT TERM; \
	rc=0; { $(FLTS_CLUSTER) up --name $(EXISTING_NAME) --config fixtures/kind/registry-cluster.yaml --kubeconfig $(EXISTING_KUBECONFIG) \
		&& $(FLTS_CLUSTER) registry --name $(EXISTING_NAME) \
		&& $(MAKE) --no-print-directory e2e E2E_KUBECONFIG=$(EXISTING_KUBECONFIG) E2E_REGISTRY=localhost:5001 \
			E2E_REUSE_CLUSTER= KIND_NODE_IMAGE= E2E_IMAGES_PRELOADED= ; } || rc=$$?; \
	cleanup; exit $$rc

.PHONY: e2e-fresh
e2e-fresh: ## make e2e as on a fresh machine: fresh clone, empty Go caches, the project's images removed; prints each stage's time.
	$(GO) run ./tools/cmd/flts-fresh $(if $(FRESH_KEEP),--keep) -- $(FRESH_ARGS)

.PHONY: ci-local
# The workflow's offline leg by default; CI_LOCAL_ARGS='--job test' runs the
# unit job, --keep-images a warm run. See tools/cmd/flts-ci-local.
ci-local: ## Run a leg of .github/workflows/e2e.yaml as a GitHub runner would: non-root user with passwordless sudo, fresh checkout of HEAD, no project images.
	$(GO) run ./tools/cmd/flts-ci-local $(or $(CI_LOCAL_ARGS),--job e2e --matrix node-image=)

.PHONY: bench
bench: ## Training and inference benchmarks (figures for the notes).
	$(GO) test -run='^$$' -bench=Train -benchtime=1x ./pkg/forecast/...
	$(GO) test -run='^$$' -bench=PredictHTTP -benchtime=3s ./pkg/inference/...

# FUZZTIME bounds each fuzz target; the seed corpora (testdata/fuzz) run
# in `make test` as ordinary tests.
FUZZTIME ?= 10m
.PHONY: fuzz
fuzz: ## Fuzz the request parser and the tracking filter grammar, FUZZTIME each (default 10m); crashers land in testdata/fuzz.
	$(GO) test -run='^$$' -fuzz='^FuzzParseRequest$$' -fuzztime=$(FUZZTIME) ./pkg/inference/
	$(GO) test -run='^$$' -fuzz='^FuzzParseFilter$$' -fuzztime=$(FUZZTIME) ./pkg/tracking/server/

.PHONY: test-integration
test-integration: $(BIN)/minio $(BIN)/promtool ## Against real servers built from their modules: MinIO (object store, tracking, the pipeline with each dependency restarted mid-run) and promtool (the chart's alert rules).
	@$(call beat,test-integration,FLTS_MINIO_BIN=$(BIN)/minio FLTS_PROMTOOL_BIN=$(BIN)/promtool $(GO) test -race -count=1 -tags integration ./pkg/objstore/... ./pkg/tracking/... ./pkg/pipeline/... ./fixtures/charts/)

##@ Cluster and images

.PHONY: tools
# flts-images links no kind or client-go: it compiles in seconds, so the
# engine and the long builds start at once. flts-cluster (kind, client-go)
# compiles beside them, in `compile suite`.
tools: ## Build the build CLI (flts-images: engine, node image, images, bundles) into _output/bin.
	@$(call timed,tools,$(GO) build -v -o $(BIN)/ ./tools/cmd/flts-images)

.PHONY: cluster-cli
cluster-cli: ## Build the cluster CLI (flts-cluster: up, down, guard, load) into _output/bin.
	$(GO) build -o $(BIN)/ ./tools/cmd/flts-cluster

.PHONY: engine
engine: tools ## Start (installing it if missing) a Docker engine able to run kind's privileged nodes.
	@$(call timed,engine,$(FLTS_IMAGES) engine)

.PHONY: node-image
node-image: engine $(if $(E2E_BUNDLE),bundle-load) ## Build the offline kind node image and metrics-server for K8S_VERSION (cached by content key).
ifeq ($(KIND_NODE_IMAGE),)
	@$(call timed,node image,$(FLTS_IMAGES) node-image)
else
	@echo "KIND_NODE_IMAGE=$(KIND_NODE_IMAGE): no node image to build, only metrics-server"
	@$(call timed,metrics-server,$(FLTS_IMAGES) node-image --metrics-server-only)
endif

.PHONY: engine-answers
engine-answers:
	@docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || { echo "no Docker engine answers: start one (or run \`make engine\` as root, which installs and starts one)"; exit 1; }

.PHONY: images
images: tools $(engine_dep) $(if $(E2E_BUNDLE),bundle-load) ## Build the pipeline and prober images (cached by their inputs).
	@$(call timed,images,$(FLTS_IMAGES))

.PHONY: bundle
bundle: tools node-image images ## Write every image the suite needs to BUNDLE (default _output/flts-images.tar) for an air-gapped machine.
	$(FLTS_IMAGES) save $(BUNDLE)

.PHONY: bundle-load
bundle-load: tools engine
	@$(call timed,bundle load,$(FLTS_IMAGES) load $(E2E_BUNDLE))

.PHONY: cluster
cluster: engine node-image images cluster-cli ## Create (or with E2E_REUSE_CLUSTER=1 reuse) the kind cluster with metrics-server.
	$(FLTS_CLUSTER) up

.PHONY: cluster-down
cluster-down: cluster-cli ## Delete the kind cluster.
	$(FLTS_CLUSTER) down

.PHONY: loadtest
loadtest: ## One load level against a running cluster: make loadtest USERS=400 DURATION=90s
	$(GO) run ./tools/cmd/flts-loadtest --kubeconfig $(CLUSTER_KUBECONFIG) --users $(USERS) --duration $(DURATION) --artifacts $(ARTIFACTS)

.PHONY: dataset
dataset: ## Your own data on a running cluster: make dataset CSV=FILE (checked here, uploaded, preprocessed; the models retrain).
	@test -n "$(CSV)" || { echo "usage: make dataset CSV=FILE (a time column and the 11 KPI columns)"; exit 2; }
	$(GO) run ./tools/cmd/flts-dataset --kubeconfig $(CLUSTER_KUBECONFIG) --csv $(CSV)

.PHONY: local
local: ## The whole pipeline on this machine without Kubernetes, then the API on :8000.
	$(GO) run ./tools/cmd/flts-local

$(BIN)/helm: go.mod
	@$(call beat,helm build,$(GO) build -o $@ helm.sh/helm/v3/cmd/helm)

# The MinIO server pinned in images/minio/module.txt, as the image builds it.
$(BIN)/minio: images/minio/module.txt
	@$(call beat,minio build,GOBIN=$(BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags='-s -w' $$(grep -v '^#' $< | head -n1))

# promtool of the Prometheus release the chart runs (images/prometheus pins
# it), for `promtool test rules` in test-integration; its own module graph.
$(BIN)/promtool: images/prometheus/module.txt
	@$(call beat,promtool build,GOBIN=$(BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags='-s -w' $$(grep -v '^#' $< | head -n1 | sed 's#/cmd/prometheus@#/cmd/promtool@#'))

##@ Docker Compose baseline

# The Compose CLI pinned in fixtures/compose/module.txt (a package of the
# module's ./cmd). Built in the module's own directory, from its own go.mod
# and go.sum: the suite's go.mod is not dragged along, and `go install
# pkg@version` cannot be used, since it refuses a module whose go.mod has
# exclude directives (compose's has). The binary (cmd's) is linked beside
# the target and renamed, so an interrupted build leaves no stale target.
# Version as compose's own Makefile stamps it (`docker-compose version`).
$(BIN)/docker-compose: fixtures/compose/module.txt
	@set -e; line=$$(grep -v '^#' $< | head -n1); pkg=$${line%@*}; ver=$${line#*@}; mod=$${pkg%/cmd}; \
	dir=$$($(GO) mod download -json "$$mod@$$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "go mod download $$mod@$$ver gave no module directory"; exit 1; }; \
	mkdir -p $(BIN); \
	$(call beat,docker-compose build,cd "$$dir" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
		$(GO) build -trimpath -ldflags="-s -w -X $$mod/internal.Version=$$ver" -o $@.part ./cmd && mv $@.part $@)

# The stack (fixtures/compose/compose.yaml, project flts-baseline) is driven
# by flts-compose (tools/compose), which logs progress at least every 20 s.
FLTS_COMPOSE  := $(BIN)/flts-compose
compose_flags  = --compose $(BIN)/docker-compose --artifacts $(ARTIFACTS) --tag $(IMAGE_TAG)
# DURATION only when given: by default the level lasts as long as the
# suite's level of the same users (its data in ARTIFACTS), else as the
# suite's rule gives on its kind cluster (tools/compose.DefaultDuration).
compose_load   = $(FLTS_COMPOSE) load $(compose_flags) --users $(USERS) $(if $(filter file,$(origin DURATION)),,--duration $(DURATION))

.PHONY: compose-cli
compose-cli:
	@$(call beat,flts-compose build,$(GO) build -o $(BIN)/ ./tools/cmd/flts-compose)

.PHONY: compose-up
compose-up: engine images $(BIN)/docker-compose compose-cli ## Docker Compose baseline: start the suite's images without Kubernetes, wait for a promoted model and inference.
	$(FLTS_COMPOSE) up $(compose_flags)

.PHONY: compose-down
compose-down: $(BIN)/docker-compose compose-cli ## Remove the baseline stack (containers, network, volumes) and check nothing of it is left.
	$(FLTS_COMPOSE) down $(compose_flags)

.PHONY: loadtest-compose
loadtest-compose: $(BIN)/docker-compose compose-cli ## One load level against the running baseline: make loadtest-compose USERS=200; saves it and rewrites the report.
	$(compose_load)

.PHONY: baseline
# Down also runs after a failure and on Ctrl-C (make waits for the
# interrupted step, then the trap removes the stack).
baseline: engine images $(BIN)/docker-compose compose-cli ## compose-up, loadtest-compose (USERS, default 200), compose-down: the baseline beside the suite's level in the report.
	@down() { $(FLTS_COMPOSE) down $(compose_flags); }; \
	trap 'down; exit 130' INT TERM; \
	rc=0; { $(FLTS_COMPOSE) up $(compose_flags) && $(compose_load); } || rc=$$?; \
	down || { [ $$rc -ne 0 ] || rc=1; }; exit $$rc

.PHONY: clean
clean: cluster-down ## Delete the cluster and build outputs (caches stay).
	rm -rf _output $(ARTIFACTS)
