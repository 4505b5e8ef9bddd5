#!/usr/bin/env bash
# scripts/demo.sh (README command 1): install what is missing, build dpnat
# (release) and run the namespace lab of deploy/lab/: real hosts in network
# namespaces around a real dpnat that NATs their traffic (masquerade, a port
# forward, hairpin). It prints what to try, runs the hairpin curl of the seed
# story itself, relays dpnat's metrics to 127.0.0.1, and on Ctrl-C stops
# dpnat and removes everything it created.
#
#   bash scripts/demo.sh                    # config variant "rules" (RouterOS-style hairpin rule)
#   bash scripts/demo.sh --variant auto     # automatic RFC 4787 hairpin, no rule
#   bash scripts/demo.sh --variant nohairpin  # the seed story's first attempt: hairpin times out
#
# DPNAT_DEMO_METRICS_PORT picks the metrics port (default 9469, or the next
# free one).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/demo.sh: run as root (DPDK and network namespaces need it): sudo bash scripts/demo.sh" >&2
  exit 1
fi
bash scripts/setup.sh
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

echo "== building dpnat (release)"
cargo build --release -p control --bin dpnat
export DPNAT="${CARGO_TARGET_DIR:-$PWD/target}/release/dpnat"

# The lab's dpnat listens inside its own namespace; lab.sh relays it to this
# port on the host's loopback. Take the first free one.
port=${DPNAT_DEMO_METRICS_PORT:-9469}
while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 1)); done

echo "== starting the lab (metrics will be at http://127.0.0.1:$port/metrics)"
exec bash deploy/lab/lab.sh run --metrics-port "$port" "$@"
