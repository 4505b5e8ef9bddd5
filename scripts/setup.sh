#!/usr/bin/env bash
# Host setup for dpnat on Debian 12 (idempotent, non-interactive, run as root):
# installs the distro DPDK and build/lab packages that are missing, makes sure
# a Rust toolchain is on PATH, and tries to reserve hugepages. Everything in
# this repository also works with --no-huge, so a hugepage failure is not fatal.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  # build: distro DPDK (shared libs + PMDs), bindgen's libclang, net_pcap's libpcap
  dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config libpcap-dev build-essential
  # the namespace lab, its e2e tests and the demo (dpdk above brings dpdk-testpmd;
  # nftables is the lab's kernel reference router, procps gives sysctl/pgrep)
  iproute2 ethtool iperf3 ncat curl ca-certificates iputils-ping traceroute socat
  tcpdump tshark nftables procps
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -E "$@"; else
    echo "setup.sh: need root to run: $*" >&2; return 1
  fi
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all packages present"
fi

# Rust: use an existing toolchain (rustup's env file if present); otherwise
# install a minimal stable one with rustup (Debian 12's rustc is too old).
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
if ! command -v cargo >/dev/null; then
  echo "setup.sh: installing the Rust toolchain with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  . "$HOME/.cargo/env"
fi
for c in clippy rustfmt; do
  if command -v rustup >/dev/null && ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    rustup component add "$c" || true
  fi
done

# Hugepages are optional (the demo and the tests use --no-huge).
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$hp" ] && [ "$(cat "$hp")" -lt 256 ]; then
  echo 256 >"$hp" 2>/dev/null || true
fi
if [ -r "$hp" ] && [ "$(cat "$hp")" -ge 256 ]; then
  mkdir -p /dev/hugepages 2>/dev/null || true
  mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
  echo "setup.sh: $(cat "$hp") x 2 MiB hugepages reserved"
else
  echo "setup.sh: no hugepages (fine: dpnat runs with --no-huge)"
fi
echo "setup.sh: DPDK $(pkg-config --modversion libdpdk), $(cargo --version)"
