#!/usr/bin/env bash
# Full check: setup, build, clippy (warnings are errors) and every test.
# DPDK tests start the EAL with --no-pci --no-huge and need root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: run as root (the DPDK tests need it): sudo bash scripts/test.sh" >&2
  exit 1
fi
bash scripts/setup.sh
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
