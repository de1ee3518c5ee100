# KOP — Kafka on Pulsar. `make run` serves Kafka on 127.0.0.1:9092;
# `make test` runs every test (installing the Debian client packages the
# end-to-end tests use when they are missing).

GO        ?= go
BIN       := bin/kop
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 5s
FRANZ_GO  ?= $(shell $(GO) list -m -f '{{.Version}}' github.com/twmb/franz-go)
# The race detector runs on every package but the two that drive
# pulsar-client-go's producer: its v0.19 reconnection writes fields its
# own send loop reads (a race inside the library, reported by -race in
# pulsarbridge's tests; v0.20 has the same code).
NORACE_PKGS := ./pulsarbridge/... ./e2e/...
RACE_PKGS  = $(shell $(GO) list ./... | grep -v -e /pulsarbridge -e /e2e)

.PHONY: all build run run-pulsar test check unit e2e fuzz bench conformance conformance-pulsar deps clean pulsar-build pulsar-up pulsar-down

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kop

run: build
	./$(BIN) standalone --config conf/kop_standalone.conf

# A real Pulsar standalone and kop standalone storing its data in it;
# Ctrl-C stops both (scripts/run-pulsar.sh).
run-pulsar: build pulsar-build
	BIN=$(BIN) scripts/run-pulsar.sh

# Everything: vet, unit and end-to-end tests, each fuzz target briefly,
# then franz-go's kgo integration suite against KOP on the embedded log and
# on a real Pulsar.
test: check deps build pulsar-build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m $(NORACE_PKGS)
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh
	FRANZ_GO=$(FRANZ_GO) scripts/conformance.sh
	PULSAR=1 FRANZ_GO=$(FRANZ_GO) scripts/conformance.sh

# Fails when git tracks a build output (an executable, a binary file, a
# file .gitignore names); first proves it would catch one.
check:
	scripts/check.sh --self-test
	scripts/check.sh

unit:
	$(GO) test -count=1 -short ./...

e2e: build pulsar-build
	$(GO) test -count=1 -v ./e2e/

fuzz:
	FUZZTIME=$${FUZZTIME:-60s} scripts/fuzz.sh

# KOP, Apache Kafka (deploy/kafka), KOP on Pulsar and Pulsar (deploy/pulsar)
# side by side: tables on stdout and in docs/bench/, a chart, the README's
# benchmark section. PROFILE=1: KOP's CPU and allocation profiles into
# bench-profiles/.
bench: build pulsar-build
	$(GO) run ./cmd/kopbench $(if $(PROFILE),-profile bench-profiles)

# franz-go's own kgo integration suite against a fresh standalone broker.
conformance: build
	FRANZ_GO=$(FRANZ_GO) scripts/conformance.sh

# The same suite against KOP storing its data in a real Pulsar.
conformance-pulsar: build pulsar-build
	PULSAR=1 FRANZ_GO=$(FRANZ_GO) scripts/conformance.sh

# A real Apache Pulsar standalone from Maven Central jars (deploy/pulsar):
# ports from PULSAR_BROKER_PORT / PULSAR_WEB_PORT (6650 / 8080), data in
# PULSAR_DATA (deploy/pulsar/data); stopped by its process id.
pulsar-build:
	deploy/pulsar/pulsar.sh build

pulsar-up:
	deploy/pulsar/pulsar.sh up

pulsar-down:
	deploy/pulsar/pulsar.sh down

# Debian packages the end-to-end tests drive (kcat, confluent-kafka for
# Python); installed only when missing.
deps:
	scripts/deps.sh

clean:
	rm -f bin/kop bin/kopbench kop kopbench
