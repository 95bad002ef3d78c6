#!/usr/bin/env bash
# Runs every check Qun's CI runs: formatting, vet, staticcheck, and all tests.
# It installs what the tests need (Go tools are pinned in go.mod as tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--mod=mod}"
# go-nvml's header uses deprecated declarations; keep the build log readable.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "go version"
go version

step "gofmt"
unformatted=$(gofmt -l cmd internal api examples web 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go build"
go build ./...

step "go vet"
go vet ./...

step "staticcheck"
go tool staticcheck ./...

step "chromium"
source scripts/chromium.sh

step "go test"
go test -count=1 -timeout 20m ./...

step "done"
