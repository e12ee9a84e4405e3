# hrpush — make help lists the targets.
GO       ?= go
BIN      ?= bin
PKGS     ?= ./...
TIMEOUT  ?= 20m
PROFILES ?= 300
SANDBOX_FLAGS ?=
# The version every binary reports (--version, the worker's first log line, hrpush_build_info).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/hrpush/hrpush/pkg/version.version=$(VERSION)

.PHONY: help build test test/race vet bench demo chaos cluster tidy clean

help: ## list the targets
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

build: ## build worker, enqueue, gateway and sandbox into ./bin (VERSION=v1.2.3 to set their version)
	$(GO) build -buildvcs=auto -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

vet: ## go vet
	$(GO) vet $(PKGS)

test: vet ## vet, then every test with the race detector (what CI runs)
	$(GO) test -race -timeout $(TIMEOUT) $(PKGS)

test/race: test ## alias of test

bench: ## benchmarks, one package at a time (two benchmarks at once on a 2-core machine distort each other)
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout $(TIMEOUT) ./cmd/... ./pkg/...

demo: build ## sandbox + worker (embedded NATS) + a bulk run of PROFILES profiles, then stop (SANDBOX_FLAGS="--latency 50ms" etc.)
	PROFILES=$(PROFILES) BIN=$(BIN) SANDBOX_FLAGS="$(SANDBOX_FLAGS)" ./scripts/demo.sh

chaos: ## the big chaos test: CHAOS_PROFILES profiles (2000), 3 workers, one SIGKILLed every 2-4 s until done
	HRPUSH_CHAOS_PROFILES=$(or $(CHAOS_PROFILES),2000) $(GO) test -run '^TestChaos$$' -count=1 -v -timeout 30m ./chaos/

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## remove build output
	rm -rf $(BIN)

cluster: ## 3 nats-server processes, R3, 2 workers + enqueue on the fresh cluster, the jobs stream's leader SIGKILLed twice (CLUSTER_PROFILES, 1500)
	HRPUSH_CLUSTER=1 HRPUSH_CLUSTER_PROFILES=$(or $(CLUSTER_PROFILES),1500) $(GO) test -run '^TestCluster$$' -count=1 -v -timeout 20m ./chaos/
