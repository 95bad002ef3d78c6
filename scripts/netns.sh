#!/usr/bin/env bash
# Builds (or removes) a small private network of "hosts" on this machine for
# Qun's end-to-end tests: N network namespaces, each with one veth attached
# to a bridge in the root namespace.
#
#   scripts/netns.sh up N      create PREFIX-ns1..N and the bridge
#   scripts/netns.sh down N    remove them (missing pieces are fine)
#
# Environment:
#   QUN_NETNS_PREFIX  name prefix (default qun, at most 8 characters):
#                     bridge PREFIXbr, namespaces PREFIX-ns1.., host-side
#                     veths PREFIXv1..
#   QUN_NETNS_SUBNET  first three octets of the /24 (default 10.77.0): the
#                     bridge is .1 in the root namespace, namespace K is .(10+K)
#
# Only addresses inside that /24 are used, all of them on this machine; the
# namespaces have no route anywhere else. Needs root. Installs iproute2 when
# `ip` is missing (apt-get).
set -euo pipefail

prefix="${QUN_NETNS_PREFIX:-qun}"
subnet="${QUN_NETNS_SUBNET:-10.77.0}"
cmd="${1:-}"
n="${2:-3}"

usage() { echo "usage: $0 up|down N" >&2; exit 2; }
[[ "$cmd" == up || "$cmd" == down ]] || usage
[[ "$n" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 200 )) || usage
(( ${#prefix} <= 8 )) || { echo "QUN_NETNS_PREFIX $prefix: at most 8 characters" >&2; exit 2; }
[[ "$subnet" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "QUN_NETNS_SUBNET $subnet: want three octets" >&2; exit 2; }

if [[ $(id -u) -ne 0 ]]; then
  echo "$0: needs root (network namespaces)" >&2
  exit 1
fi

if ! command -v ip >/dev/null 2>&1; then
  echo "$0: installing iproute2" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq iproute2 >&2
fi

br="${prefix}br"

down() {
  for ((k = 1; k <= n; k++)); do
    ip netns del "${prefix}-ns$k" 2>/dev/null || true
    ip link del "${prefix}v$k" 2>/dev/null || true
  done
  ip link del "$br" 2>/dev/null || true
}

if [[ "$cmd" == down ]]; then
  down
  exit 0
fi

down # start clean: leftovers of an interrupted run
trap 'down' ERR
ip link add "$br" type bridge
ip addr add "$subnet.1/24" dev "$br"
ip link set "$br" up
for ((k = 1; k <= n; k++)); do
  ns="${prefix}-ns$k"
  ip netns add "$ns"
  ip link add "${prefix}v$k" type veth peer name eth0 netns "$ns"
  ip link set "${prefix}v$k" master "$br" up
  ip -n "$ns" addr add "$subnet.$((10 + k))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
echo "$0: bridge $br $subnet.1/24, namespaces ${prefix}-ns1..$n at $subnet.11..$subnet.$((10 + n))"
