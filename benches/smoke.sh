#!/usr/bin/env bash
# CI smoke for the benches: tiny sizes, short measurements, bounded by
# timeouts. Prints numbers; asserts only that everything runs (a bench that
# panics, or a fast path that drops packets, fails the run). Speed is never
# asserted: CI machines are shared and noisy.
#
#   benches/smoke.sh            # criterion + report + e2e smoke
#   SMOKE_E2E=0 benches/smoke.sh   # without the DPDK e2e part (no root/DPDK)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export DPNAT_BENCH_SESSIONS=${DPNAT_BENCH_SESSIONS:-1000,20000}
export DPNAT_BENCH_SLOW_SESSIONS=${DPNAT_BENCH_SLOW_SESSIONS:-20000}
export DPNAT_BENCH_MS=${DPNAT_BENCH_MS:-200}
QUICK=(--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10)

echo "== criterion benches (sessions $DPNAT_BENCH_SESSIONS)"
timeout 600 cargo bench -q -p benches --bench wire -- "${QUICK[@]}" 2>&1 | grep -E 'time:|thrpt:|^[a-z]' || true
for b in fastpath slowpath; do
  timeout 600 cargo bench -q -p benches --bench "$b" -- "${QUICK[@]}" 2>&1 | grep -E 'time:|thrpt:|^[a-z]|opened|panicked'
done

echo "== report (memory, allocations per burst, plain-timer fast path, 2 workers)"
timeout 300 cargo run -q --release -p benches --bin dpnat-bench-report

if [ "${SMOKE_E2E:-1}" = 1 ]; then
  echo "== e2e smoke (memif, dpnat vs testpmd)"
  timeout 180 bash benches/e2e/run.sh --smoke
fi
echo "== smoke done"
