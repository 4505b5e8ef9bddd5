#!/usr/bin/env bash
# scripts/test.sh: the whole test suite (README command 2; .ci/run runs it).
#
#   setup -> build -> clippy -> cargo test -> release dpnat -> namespace e2e
#   -> bench smoke -> leak check -> summary
#
# Root, non-interactive (CI=true, no stdin), on a fresh Debian 12 machine
# with apt and a Rust toolchain. Every step runs under a timeout; a failed
# step does not hide later results, but a step whose prerequisite failed is
# skipped. Exit status 0 only if every step passed and nothing leaked.
# Logs: one file per step in the directory printed at the start.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: run as root (DPDK and the namespace lab need it): sudo bash scripts/test.sh" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive CARGO_TERM_COLOR=never
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOGS=$(mktemp -d /tmp/dpnat-test.XXXXXX)
T_START=$SECONDS

# --- what exists before we start, so the leak check sees only ours -------
# Everything the suite creates is named: namespaces dpn-<id>-*, interfaces
# dpn<id>*, DPDK runtime dirs under /var/run/dpdk, and these programs.
PROGS='dpnat|dpnat-gen|dpdk-testpmd|socat|iperf3|tcpdump|tshark|dumpcap|curl|ncat'
state() {
  {
    ip netns list 2>/dev/null | awk '{print "netns " $1}' | grep ' dpn-'
    ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}' | grep ' dpn'
    ls -1 /var/run/dpdk 2>/dev/null | sed 's/^/dpdk-runtime-dir /'
    ps -e -o pid=,comm= | awk -v re="^($PROGS)\$" '$2 ~ re {print "process " $1 " " $2}'
  } | sort
}
state >"$LOGS/state-before"

# --- steps -----------------------------------------------------------------
NAMES=() RESULTS=() SECS=()
CUR=
FAILED=0

record() { NAMES+=("$1"); RESULTS+=("$2"); SECS+=("$3"); }

# step NAME LIMIT_S CMD...: runs CMD with stdin closed, output to the
# terminal and to $LOGS/NAME.log; TERM at the limit, KILL 60 s later.
step() {
  local name=$1 limit=$2 t0=$SECONDS rc=0 tailpid
  shift 2
  echo
  echo "=== [$name] $* (limit ${limit}s)"
  : >"$LOGS/$name.log" # exists before tail looks for it
  timeout -k 60 "$limit" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  CUR=$!
  tail -n +1 --pid="$CUR" -f "$LOGS/$name.log" &
  tailpid=$!
  wait "$CUR" || rc=$?
  CUR=
  wait "$tailpid" 2>/dev/null || true
  local res=ok
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    res="TIMEOUT (${limit}s)"
  elif [ "$rc" != 0 ]; then
    res="FAILED (exit $rc)"
  fi
  [ "$res" = ok ] || FAILED=1
  record "$name" "$res" $((SECONDS - t0))
  [ "$res" = ok ]
}

skip() {
  echo
  echo "=== [$1] skipped: $2"
  record "$1" "skipped ($2)" 0
  FAILED=1
}

# A test binary's counts: "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
cargo_counts() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) {
          if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i;
          if ($(i+1) ~ /^ignored/) g += $i }; n++ }
       END { printf "%d %d %d %d\n", p, f, g, n }' "$LOGS/test.log" 2>/dev/null
}

leak_check() {
  state >"$LOGS/state-after"
  # new entries only; a process is ours if it still runs and was not there before
  comm -13 "$LOGS/state-before" "$LOGS/state-after" >"$LOGS/leaks"
  [ ! -s "$LOGS/leaks" ]
}

summary() {
  local i p f g n leaks=none ep=0 ef=0 line
  echo
  echo "=== summary (logs: $LOGS, wall clock $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s)"
  for i in "${!NAMES[@]}"; do
    printf '  %-12s %-28s %5d s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${SECS[$i]}"
  done
  read -r p f g n < <(cargo_counts)
  echo "  cargo test:  $p passed, $f failed, $g ignored ($n test binaries)"
  line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' "$LOGS/e2e.log" 2>/dev/null | tail -n 1)
  if [ -n "$line" ]; then
    ep=$(echo "$line" | awk '{print $2}')
    ef=$(echo "$line" | awk '{print $4}')
    echo "  $line (namespace lab, real dpnat)"
    grep '^FAIL ' "$LOGS/e2e.log" | sed 's/^/    /'
  fi
  if ! leak_check; then
    FAILED=1
    leaks="LEFT BEHIND:"
  fi
  echo "  leaks:       $leaks"
  [ "$leaks" = none ] || sed 's/^/    /' "$LOGS/leaks"
  if [ "$FAILED" = 0 ]; then echo "  RESULT: PASS"; else echo "  RESULT: FAIL"; fi
  echo "tests: $((p + ep)) passed, $((f + ef)) failed"
}

on_signal() {
  trap - INT TERM
  echo "scripts/test.sh: interrupted, stopping the running step" >&2
  if [ -n "$CUR" ]; then
    kill -TERM "$CUR" 2>/dev/null || true
    wait "$CUR" 2>/dev/null || true # the step's own traps clean up
  fi
  FAILED=1
  record interrupted "signal $1" 0
  summary
  exit $((128 + $2))
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM

echo "dpnat test suite: $ROOT, target $TARGET, logs $LOGS"

step setup 1800 bash scripts/setup.sh || { summary; exit 1; }
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

if step build 2700 cargo build --locked --workspace --all-targets; then
  step clippy 1200 cargo clippy --locked --workspace --all-targets -- -D warnings
  step test 1800 cargo test --locked --workspace
else
  skip clippy "build failed"
  skip test "build failed"
fi

if step release 1800 cargo build --locked --release -p control --bin dpnat; then
  step e2e 1500 env DPNAT="$TARGET/release/dpnat" E2E_LOGS="$LOGS/e2e-logs" bash tests/e2e/run.sh
  step bench-smoke 1800 bash benches/smoke.sh
else
  skip e2e "no release dpnat"
  skip bench-smoke "no release dpnat"
fi

summary
exit "$FAILED"
