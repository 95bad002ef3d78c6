# Qun's make targets. The README names two: run and test.
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

BIN := bin/qun

.PHONY: run test build fuzz bench clean

## run: build qun and run its main job on the embedded default
run: build
	./$(BIN) pool show examples/pools/cloudmatrix384.yaml

## test: formatting, vet, staticcheck and every test (what CI runs)
test:
	./scripts/test.sh

## build: build bin/qun
build:
	go build -o $(BIN) ./cmd/qun

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	go test ./internal/pool -run XXX -fuzz FuzzLoad -fuzztime $(FUZZTIME)

## bench: Go benchmarks beside the hot code
bench:
	go test -run XXX -bench . -benchmem ./internal/...

clean:
	rm -rf bin
