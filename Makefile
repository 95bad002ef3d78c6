# Qun's make targets. The README names two: run and test.
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

BIN := bin/qun

.PHONY: run test test-fast build fuzz bench clean

## run: build qun and the example workload, then run a local pool with `qun up`
## (a server and 4 agents of 8 fake 910B; Ctrl-C stops it). UP_FLAGS adds flags.
run: build
	go build -o bin/qun-allreduce ./examples/workloads/allreduce
	./$(BIN) up $(UP_FLAGS)

## test: formatting, vet, staticcheck and every test (what CI runs)
test:
	./scripts/test.sh

## test-fast: the inner loop: every test with -short, which skips the slow
## ones (end-to-end, crash recovery, trace-based simulation, long property
## tests, builds of real binaries); no gofmt, vet or staticcheck
test-fast:
	go test -short ./...

## build: build bin/qun
build:
	go build -o $(BIN) ./cmd/qun

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## bench: Go benchmarks beside the hot code
bench:
	go test -run XXX -bench . -benchmem ./internal/...

clean:
	rm -rf bin
