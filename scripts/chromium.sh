#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure Debian's chromium is installed for
# the dashboard's browser test (internal/e2e TestDashboard*), installing it
# with apt-get when missing, and then requires it: with QUN_REQUIRE_CHROMIUM
# set, the test fails instead of skipping when chromium cannot be found.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian) for the dashboard test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; }
  else
    echo "chromium is missing and this is not a root Debian machine: the dashboard test will fail" >&2
  fi
fi
command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null | head -1
export QUN_REQUIRE_CHROMIUM=1
