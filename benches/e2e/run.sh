#!/usr/bin/env bash
# End-to-end throughput and latency over net_memif, dpnat versus testpmd.
#
#   benches/e2e/run.sh            # full run (a few minutes)
#   benches/e2e/run.sh --smoke    # CI smoke (< 1 minute; numbers printed, not asserted)
#
# Options: --flows N (10000), --trial-ms MS (1000), --iterations K (8),
#          --loss FRACTION (0.001 = 0.1%; 0 = zero loss), --skip-testpmd,
#          --gen-lcore C (0), --dut-lcore C (1)
#
# Topology (one run per DUT, same generator and settings):
#
#   dpnat-gen (lcore 0)                      DUT (forwarding on lcore 1)
#     net_memif0 (server) ==== gen-lan.sock ==== net_memif0 (client)  "lan"
#     net_memif1 (server) ==== gen-wan.sock ==== net_memif1 (client)  "wan"
#
# The generator sends 64-byte UDP frames over N flows into "lan" and
# counts/timestamps what comes back out of "wan", searching for the highest
# rate with loss <= the threshold (RFC 2544 style binary search). Baseline:
# dpdk-testpmd --forward-mode=io in place of dpnat. Both DUTs get lcores
# "<gen>,<dut>": the main lcore only sleeps, forwarding runs on the DUT lcore.
# Needs root (DPDK with --no-huge), dpdk-testpmd, and the memif PMD.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMOKE=0 FLOWS=10000 TRIAL_MS=1000 ITER=8 LOSS=0.001 TESTPMD=1 GEN_LCORE=0 DUT_LCORE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; FLOWS=1000; TRIAL_MS=300; ITER=4 ;;
    --flows) FLOWS=$2; shift ;;
    --trial-ms) TRIAL_MS=$2; shift ;;
    --iterations) ITER=$2; shift ;;
    --loss) LOSS=$2; shift ;;
    --skip-testpmd) TESTPMD=0 ;;
    --gen-lcore) GEN_LCORE=$2; shift ;;
    --dut-lcore) DUT_LCORE=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" != 0 ]; then
  echo "run.sh: needs root (DPDK EAL with --no-huge); try: sudo $0 $*" >&2
  exit 1
fi
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "== building dpnat and dpnat-gen (release)"
(cd "$ROOT" && cargo build --release -q -p control --bin dpnat \
  && cargo build --release -q -p benches --features dpdk --bin dpnat-gen)
DPNAT=$TARGET/release/dpnat
GEN=$TARGET/release/dpnat-gen
TESTPMD_BIN=$(command -v dpdk-testpmd || true)

WORK=/tmp/dpnat-bench-$$
mkdir -p "$WORK"
DUT_PID=
DUT_STDIN=
cleanup() {
  if [ -n "$DUT_PID" ] && kill -0 "$DUT_PID" 2>/dev/null; then
    kill -TERM "$DUT_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DUT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DUT_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  # DPDK leaves its runtime directory (config, fbarrays) behind on exit.
  rm -rf /var/run/dpdk/dut-$$ /var/run/dpdk/tp-$$ /var/run/dpdk/gen-$$-*
}
trap cleanup EXIT INT TERM

LAN_SOCK=$WORK/gen-lan.sock
WAN_SOCK=$WORK/gen-wan.sock
# memif cannot change its MAC after start, so the MACs are devargs.
gen_dev() { echo "net_memif$1,role=server,id=0,socket-abstract=no,socket=$2,mac=02:00:00:00:01:0$(( $1 + 1 ))"; }
dut_dev() { echo "net_memif$1,role=client,id=0,socket-abstract=no,socket=$2,mac=02:00:00:00:00:0$(( $1 + 1 ))"; }

# run_one LABEL: starts the generator (memif servers), then the DUT via
# $DUT_CMD (an array), and prints the generator's output.
run_one() {
  local label=$1
  rm -f "$LAN_SOCK" "$WAN_SOCK"
  local gen_log=$WORK/gen-$label.log dut_log=$WORK/dut-$label.log
  timeout $((60 + (ITER + 3) * (TRIAL_MS / 1000 + 2))) "$GEN" \
    --lcores "$GEN_LCORE" --file-prefix "gen-$$-$label" \
    --tx-dev "$(gen_dev 0 "$LAN_SOCK")" --rx-dev "$(gen_dev 1 "$WAN_SOCK")" \
    --flows "$FLOWS" --trial-ms "$TRIAL_MS" --iterations "$ITER" --loss "$LOSS" \
    --label "$label" --link-wait-s 30 >"$gen_log" 2>&1 &
  local gen_pid=$!
  for _ in $(seq 1 100); do [ -S "$LAN_SOCK" ] && [ -S "$WAN_SOCK" ] && break; sleep 0.1; done
  "${DUT_CMD[@]}" <"${DUT_STDIN:-/dev/null}" >"$dut_log" 2>&1 &
  DUT_PID=$!
  local rc=0
  wait "$gen_pid" || rc=$?
  kill -TERM "$DUT_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$DUT_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$DUT_PID" 2>/dev/null || true
  wait "$DUT_PID" 2>/dev/null || true
  DUT_PID=
  grep -v '^EAL: \|^TELEMETRY\|^$' "$gen_log" | sed "s/^/   /"
  if [ "$rc" != 0 ]; then
    echo "   [$label] generator failed (exit $rc); DUT log:" >&2
    tail -20 "$dut_log" | sed 's/^/   | /' >&2
    return 1
  fi
}

result() { grep '^RESULT' "$WORK/gen-$1.log" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "== dpnat e2e: $FLOWS flows, ${TRIAL_MS} ms trials, $ITER search steps, loss <= $(awk "BEGIN{print $LOSS*100}")%, generator lcore $GEN_LCORE, DUT lcore $DUT_LCORE"
echo "   dpnat: $("$DPNAT" --version 2>/dev/null || echo dpnat)"
if grep -q "CrossConnect" "$ROOT/control/src/run.rs"; then
  echo "   NOTE: this dpnat build's 'run' is the two-port forwarder (NAT pipeline not wired into the worker yet)"
  DUT_MODE=forwarder
else
  DUT_MODE=nat
fi

cat >"$WORK/dpnat.toml" <<TOML
[eal]
lcores = "$GEN_LCORE,$DUT_LCORE"
no_huge = true
memory_mb = 256
file_prefix = "dut-$$"
extra_args = ["--no-telemetry"]

[[interface]]
name = "lan"
device = "$(dut_dev 0 "$LAN_SOCK")"
addresses = ["10.0.0.1/8"]
lists = ["LAN"]

[[interface]]
name = "wan"
device = "$(dut_dev 1 "$WAN_SOCK")"
addresses = ["203.0.113.1/24"]
lists = ["WAN"]

[[route]]
dst = "0.0.0.0/0"
gateway = "203.0.113.254"

[nat]
rules = ["chain=srcnat out-interface-list=WAN action=masquerade"]
TOML
"$DPNAT" check-config "$WORK/dpnat.toml" >/dev/null

echo "== DUT dpnat ($DUT_MODE)"
DUT_CMD=("$DPNAT" run --config "$WORK/dpnat.toml")
run_one dpnat

if [ "$TESTPMD" = 1 ]; then
  if [ -z "$TESTPMD_BIN" ]; then
    echo "== testpmd baseline skipped: dpdk-testpmd not found"
    TESTPMD=0
  else
    echo "== DUT dpdk-testpmd --forward-mode=io (baseline)"
    # Non-interactive testpmd forwards until its stdin gives a line or EOF:
    # give it a FIFO this script holds open, so it runs until SIGTERM and
    # DUT_PID is testpmd itself.
    mkfifo "$WORK/testpmd.stdin"
    exec 3<>"$WORK/testpmd.stdin"
    DUT_CMD=("$TESTPMD_BIN" -l "$GEN_LCORE,$DUT_LCORE" --main-lcore "$GEN_LCORE"
      --no-huge -m 256 --no-pci --no-telemetry --file-prefix "tp-$$"
      --vdev "$(dut_dev 0 "$LAN_SOCK")" --vdev "$(dut_dev 1 "$WAN_SOCK")"
      -- --forward-mode=io --auto-start --nb-cores=1 --rxq=1 --txq=1 --burst=32 --total-num-mbufs=16384)
    DUT_STDIN="$WORK/testpmd.stdin"
    run_one testpmd
  fi
fi

echo
echo "== summary (64-byte frames, loss <= $(awk "BEGIN{print $LOSS*100}")%, 1 forwarding core each)"
printf '   %-10s %12s %10s %10s %10s\n' DUT "rate Mpps" "p50 us" "p99 us" "p99.9 us"
for l in dpnat testpmd; do
  [ -f "$WORK/gen-$l.log" ] || continue
  printf '   %-10s %12s %10s %10s %10s\n' "$l" "$(result $l rate_mpps)" "$(result $l p50_us)" "$(result $l p99_us)" "$(result $l p999_us)"
done
if [ "$TESTPMD" = 1 ]; then
  awk -v a="$(result dpnat rate_mpps)" -v b="$(result testpmd rate_mpps)" -v m="$DUT_MODE" \
    'BEGIN { if (b > 0) printf "   dpnat/testpmd throughput ratio: %.2fx (target >= 0.90x; dpnat mode: %s)\n", a / b, m }'
fi
