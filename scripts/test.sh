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

step "test dependencies"
# The PyTorch example's test (examples/workloads/torchddp) needs Debian's
# python3-torch under /usr/bin/python3; it skips with a message without it.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y python3-torch || echo "warning: cannot install python3-torch; the PyTorch test will skip"
    elif command -v sudo >/dev/null 2>&1; then
      sudo -n apt-get install -y python3-torch || echo "warning: cannot install python3-torch; the PyTorch test will skip"
    fi
  else
    echo "warning: no apt-get to install python3-torch; the PyTorch test will skip"
  fi
fi
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || true

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

step "test dependencies (Debian packages)"
./scripts/deps.sh
step "chromium"
source scripts/chromium.sh

step "go test"
go test -count=1 -timeout 20m ./...

step "done"
