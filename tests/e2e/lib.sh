# shellcheck shell=bash disable=SC2034
# tests/e2e/lib.sh: checks and the scenario runner shared by run.sh and
# plumbing.sh. Needs deploy/lab/lib.sh sourced first (lab_x, lab_bg, ...).
#
# A scenario is a shell function that prints what it saw and returns 0, or
# prints "why: <reason>" and returns non-zero. The runner runs each one in a
# fresh bash under `timeout`, so a hung client can never hang the suite.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_ROOT=$(cd "$E2E_DIR/../.." && pwd)
E2E_SCENARIO_TIMEOUT=${E2E_SCENARIO_TIMEOUT:-120}
E2E_CONNECT_TIMEOUT=${E2E_CONNECT_TIMEOUT:-5}
E2E_PASS=${E2E_PASS:-0}
E2E_FAIL=${E2E_FAIL:-0}
export E2E_DIR E2E_ROOT E2E_CONNECT_TIMEOUT

# Bad IP/TCP/UDP/ICMP checksums, outer or quoted inside an ICMP error.
# tshark also counts a TCP checksum of 0xFFFF as bad: it verifies, but a full
# recompute gives 0x0000 (RFC 1624, N15), so from dpnat it is a real fault.
E2E_BAD_FILTER='ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || _ws.expert.message contains "Bad checksum"'
# For frames made by a Linux host (plumbing): Linux itself now and then sends
# TCP 0xFFFF (one frame in a 5440-frame capture here, tx offload off), which
# is not the dataplane's doing; everything else still counts.
E2E_BAD_FILTER_HOST='ip.checksum.status == "Bad" || (tcp.checksum.status == "Bad" && tcp.checksum != 0xffff) || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || _ws.expert.message contains "Bad checksum"'
E2E_TSHARK_OPTS=(-n -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE)

e2e_fail() {
	printf 'why: %s\n' "$*"
	return 1
}

# ------------------------------------------------------------------ runner --

# e2e_scenario <name> <function> [args...]
e2e_scenario() {
	local name=$1 fn=$2 log rc=0 why tmo=${E2E_TIMEOUT_OVERRIDE:-$E2E_SCENARIO_TIMEOUT}
	shift 2
	log=$E2E_LOGS/$name.log
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout -k 5 "$tmo" bash -c '
		set -uo pipefail
		. "$E2E_ROOT/deploy/lab/lib.sh"
		. "$E2E_DIR/lib.sh"
		. "$E2E_DIR/scenarios.sh"
		. "$E2E_DIR/plumbing.sh"
		"$@"' _ "$fn" "$@" >"$log" 2>&1 &
	# In the background + wait: a trapped INT/TERM interrupts `wait` at once
	# (a foreground child would delay the trap until it finished).
	E2E_CHILD=$!
	wait "$E2E_CHILD" || rc=$?
	E2E_CHILD=
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name"
		E2E_PASS=$((E2E_PASS + 1))
		return 0
	fi
	why=$(sed -n 's/^why: //p' "$log" | tail -n 1)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		why="timed out after ${tmo}s${why:+ (last: $why)}"
	fi
	[ -n "$why" ] || why="exit $rc: $(grep -v '^\s*$' "$log" | tail -n 1)"
	echo "FAIL $name: $why"
	E2E_FAIL=$((E2E_FAIL + 1))
	return 0
}

# e2e_fail_all <why> <name>...: report scenarios that could not run.
e2e_fail_all() {
	local why=$1 n
	shift
	for n in "$@"; do
		echo "FAIL $n: $why"
		E2E_FAIL=$((E2E_FAIL + 1))
	done
}

# Labs this run created and has not removed yet (the EXIT trap removes them),
# and the running scenario's pid.
E2E_LABS=()
E2E_CHILD=

# e2e_lab_down <id>: remove a lab, keeping its logs (dpnat.log, configs)
# under $E2E_LOGS/lab-<id>.
e2e_lab_down() {
	local id=$1 keep=() x
	LAB_KEEP_LOGS=$E2E_LOGS/lab-$id LAB_ID=$id lab_down "$id" || true
	for x in "${E2E_LABS[@]}"; do [ "$x" = "$id" ] || keep+=("$x"); done
	E2E_LABS=("${keep[@]}")
}

e2e_cleanup() {
	local id
	# A second INT/TERM (timeout signals the child and then its group) must
	# not cut the cleanup short and leave the lab behind.
	trap '' INT TERM
	# A scenario interrupted mid-run: stop its timeout (which stops the
	# scenario); lab_down then ends whatever it started in the namespaces.
	if [ -n "${E2E_CHILD:-}" ]; then
		kill -TERM "$E2E_CHILD" 2>/dev/null || true
		wait "$E2E_CHILD" 2>/dev/null || true
		E2E_CHILD=
	fi
	for id in "${E2E_LABS[@]}"; do e2e_lab_down "$id"; done
}

e2e_main_start() {
	[ "$(id -u)" -eq 0 ] || { echo "e2e: needs root (network namespaces)" >&2; exit 1; }
	E2E_LOGS=${E2E_LOGS:-$(mktemp -d /tmp/dpnat-e2e.XXXXXX)}
	mkdir -p "$E2E_LOGS"
	export E2E_LOGS
	trap e2e_cleanup EXIT
	trap 'trap "" INT TERM; exit 130' INT
	trap 'trap "" INT TERM; exit 143' TERM
	echo "# logs: $E2E_LOGS"
}

# Remove what is left, then the closing line; exit status says it all.
e2e_main_end() {
	e2e_cleanup
	trap - EXIT
	echo "e2e: $E2E_PASS passed, $E2E_FAIL failed"
	[ "$E2E_FAIL" -eq 0 ] || exit 1
	exit 0
}

# ----------------------------------------------------------------- clients --

e2e_seen() { sed -n 's/.*seen-from=\([0-9.]*\):.*/\1/p' <<<"$1" | head -n 1; }
e2e_server() { sed -n 's/.*server=\([A-Za-z0-9_-]*\).*/\1/p' <<<"$1" | head -n 1; }

# e2e_http <host> <url>: HTTP GET from a lab host, bounded.
e2e_http() {
	lab_x "$1" timeout $((E2E_CONNECT_TIMEOUT + 5)) curl -sS --max-time "$E2E_CONNECT_TIMEOUT" "$2"
}

# e2e_udp <host> <addr> <port>: one datagram, print the reply (if any).
e2e_udp() {
	printf 'probe-%s\n' "$RANDOM" | lab_x "$1" timeout $((E2E_CONNECT_TIMEOUT + 5)) \
		socat -T "$E2E_CONNECT_TIMEOUT" - "UDP4:$2:$3"
}

# e2e_expect_answer <what> <output> <want-server> <want-seen-addr>
e2e_expect_answer() {
	local s a
	s=$(e2e_server "$2")
	a=$(e2e_seen "$2")
	[ -n "$s" ] || { e2e_fail "$1: no answer (got: $(tr '\n' ' ' <<<"$2" | cut -c1-120))"; return 1; }
	[ "$s" = "$3" ] || { e2e_fail "$1: answered by server=$s, want $3"; return 1; }
	[ "$a" = "$4" ] || { e2e_fail "$1: server $s saw source $a, want $4"; return 1; }
	echo "ok: $1: server=$s seen-from=$a"
}

# e2e_expect_tcp <host> <url> <want-server> <want-seen-addr>
e2e_expect_tcp() {
	local out
	out=$(e2e_http "$1" "$2" 2>&1) || { e2e_fail "$1: curl $2 failed: $(tr '\n' ' ' <<<"$out")"; return 1; }
	e2e_expect_answer "$1 -> $2 (tcp)" "$out" "$3" "$4"
}

# e2e_expect_udp <host> <addr> <port> <want-server> <want-seen-addr>
e2e_expect_udp() {
	local out
	out=$(e2e_udp "$1" "$2" "$3" 2>&1) || true
	e2e_expect_answer "$1 -> $2:$3 (udp)" "$out" "$4" "$5"
}

# e2e_expect_ping <host> <addr> [extra ping args]
e2e_expect_ping() {
	local h=$1 a=$2 out
	shift 2
	out=$(lab_x "$h" timeout 20 ping -n -c 2 -i 0.3 -W 2 "$@" "$a" 2>&1) || {
		e2e_fail "$h: ping $* $a failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return 1
	}
	echo "ok: $h ping $* $a: $(grep -E 'packets transmitted' <<<"$out")"
}

# ---------------------------------------------------------------- captures --

# e2e_capture_start <host> <dev> <file> [bpf...]: sets E2E_CAP_PID once
# tcpdump is listening (bounded).
e2e_capture_start() {
	local h=$1 dev=$2 file=$3 deadline
	shift 3
	rm -f "$file" "$file.err"
	# ip netns exec execs tcpdump, so $! is tcpdump itself (not a subshell).
	# --immediate-mode: without it frames wait in the ring for a block timeout
	# and a quick stop loses them ("received by filter" but not captured).
	ip netns exec "$(lab_ns "$h")" tcpdump -i "$dev" -n -U --immediate-mode -Z root -s 0 -w "$file" "$@" 2>"$file.err" &
	E2E_CAP_PID=$!
	deadline=$((SECONDS + 10))
	until grep -q 'listening on' "$file.err" 2>/dev/null; do
		if ! kill -0 "$E2E_CAP_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			e2e_fail "tcpdump on $h/$dev did not start: $(cat "$file.err" 2>/dev/null)"
			return 1
		fi
		sleep 0.1
	done
}

e2e_capture_stop() {
	sleep 0.3 # let the last frames of the exchange land
	lab_kill "$1"
	wait "$1" 2>/dev/null || true
}

# e2e_tshark <file> <display-filter> [fields...]: matching frames, one a line.
e2e_tshark() {
	local f=$1 y=$2 e=()
	shift 2
	if [ $# -gt 0 ]; then
		e=(-T fields)
		local x
		for x in "$@"; do e+=(-e "$x"); done
	fi
	tshark "${E2E_TSHARK_OPTS[@]}" -r "$f" -Y "$y" "${e[@]}" 2>/dev/null
}

e2e_count() { e2e_tshark "$1" "$2" | grep -c . || true; }

# e2e_checksums_clean <file> <label> <frames> [bad-filter]: no bad checksum
# in the frames that match <frames> (the ones the device under test put on
# the wire, e.g. "eth.src == <dpnat's MAC>").
e2e_checksums_clean() {
	local f=$1 label=$2 sel=$3 badf=${4:-$E2E_BAD_FILTER} bad total all
	total=$(e2e_count "$f" "$sel")
	bad=$(e2e_count "$f" "($sel) && ($badf)")
	all=$(e2e_count "$f" "$E2E_BAD_FILTER")
	echo "capture $label: $total frames of [$sel], $bad with a bad checksum ($all flagged in the whole capture)"
	if [ "$bad" -ne 0 ]; then
		e2e_tshark "$f" "($sel) && ($badf)" | head -n 5
		e2e_fail "$label: $bad frame(s) with a bad IP/TCP/UDP/ICMP checksum (capture $f)"
		return 1
	fi
	[ "$total" -gt 0 ] || { e2e_fail "$label: no frames of [$sel] captured"; return 1; }
}

# e2e_require_frames <file> <label> <filter> <what>: at least one frame.
e2e_require_frames() {
	local n
	n=$(e2e_count "$1" "$3")
	echo "capture $2: $n frame(s) of $4"
	[ "$n" -gt 0 ] || { e2e_fail "$2: capture has no $4 (filter: $3)"; return 1; }
}

# ---------------------------------------------------------------- transfer --

# e2e_transfer <from-host> <to-host> <to-addr> <port> <MiB>: stream random
# bytes with socat, compare size and sha256 on both ends.
e2e_transfer() {
	local from=$1 to=$2 addr=$3 port=$4 mib=$5 dir rpid sent recv t0 t1
	dir=$LAB_DIR/transfer-$port
	mkdir -p "$dir"
	head -c $((mib * 1024 * 1024)) /dev/urandom >"$dir/sent.bin"
	ip netns exec "$(lab_ns "$to")" timeout 300 socat -u "TCP4-LISTEN:$port,reuseaddr" "OPEN:$dir/recv.bin,creat,trunc" 2>"$dir/recv.err" &
	rpid=$!
	lab_wait_listen "$to" tcp "$port" || { e2e_fail "receiver did not listen on $port"; return 1; }
	t0=$(date +%s.%N)
	if ! lab_x "$from" timeout 300 socat -u "FILE:$dir/sent.bin" "TCP4:$addr:$port,connect-timeout=$E2E_CONNECT_TIMEOUT" 2>"$dir/send.err"; then
		lab_kill "$rpid"
		e2e_fail "sender failed: $(tr '\n' ' ' <"$dir/send.err")"
		return 1
	fi
	wait "$rpid" || { e2e_fail "receiver failed: $(tr '\n' ' ' <"$dir/recv.err")"; return 1; }
	t1=$(date +%s.%N)
	sent=$(sha256sum <"$dir/sent.bin" | cut -d' ' -f1)
	recv=$(sha256sum <"$dir/recv.bin" | cut -d' ' -f1)
	echo "sent $(stat -c %s "$dir/sent.bin") bytes sha256 $sent"
	echo "recv $(stat -c %s "$dir/recv.bin") bytes sha256 $recv"
	awk -v a="$t0" -v b="$t1" -v m="$mib" 'BEGIN { printf "%d MiB in %.1f s (%.0f Mbit/s)\n", m, b - a, m * 8.388608 / (b - a) }'
	rm -rf "$dir"
	[ "$sent" = "$recv" ] || { e2e_fail "sha256 differs: sent $sent, received $recv"; return 1; }
}

# e2e_iperf3 <host> <server-addr> [iperf3 args]: a short run must succeed.
e2e_iperf3() {
	local h=$1 a=$2 out
	shift 2
	out=$(lab_x "$h" timeout 40 iperf3 -c "$a" -t 3 --connect-timeout 5000 "$@" 2>&1) || {
		e2e_fail "iperf3 $* to $a failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		return 1
	}
	grep -E 'receiver|sender' <<<"$out" | tail -n 2
	grep -q receiver <<<"$out" || { e2e_fail "iperf3 printed no receiver summary"; return 1; }
}
