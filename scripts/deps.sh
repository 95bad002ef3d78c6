#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# prometheus (the metrics end-to-end test runs the binary itself, with a
# temporary config and storage directory), etcd-server and etcd-client
# (the HA tests, the chaos test and `qun bench failover` start a 3-member
# etcd cluster of their own on loopback ports) and tcpdump (the secure
# end-to-end test captures on the veths of its network namespaces). A
# package's own service is
# never started: a policy-rc.d that refuses service starts is in place
# while apt-get runs, unless one exists already.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: cannot install ${need[*]} (need root and apt-get); tests that need them skip (or fail when CI=true)" >&2
  exit 0
fi
policy=/usr/sbin/policy-rc.d
made=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made=1
fi
trap '[ -n "$made" ] && rm -f "$policy"' EXIT
echo "deps: apt-get update"
DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null
echo "deps: apt-get install -y --no-install-recommends ${need[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
