#!/usr/bin/env bash
# dpnat namespace lab: real hosts (network namespaces) around a real dpnat.
#
#   lab.sh run  [--variant V] [--id ID] [--metrics-port N] [--router R]
#                   build, start dpnat, print what to try, serve until Ctrl-C
#                   (or until dpnat exits), then tear everything down
#   lab.sh up   [--variant V] [--id ID] [--metrics-port N] [--router R]
#                   same, but leave the lab running and print its id
#   lab.sh demo [--variant V] [--router R]
#                   build, run the suggested tries, tear down (exit 1 if the
#                   hairpin curl fails)
#   lab.sh restart [--id ID] VARIANT   restart dpnat with another config
#   lab.sh exec [--id ID] HOST CMD...  run CMD inside a lab host
#   lab.sh down [ID | --all]           remove a lab (or every lab)
#   lab.sh list                        labs that exist
#
# Variants: rules (seed story: masquerade, port forward, hairpin srcnat rule),
# nohairpin (same without the hairpin rule), auto (hairpin = "auto").
# Routers: dpnat (default) or kernel (Linux + nftables with the same rules: a
# known-good reference to check the lab and the e2e tests against).
# Hosts: rtr (dpnat itself), sw1, lan1c, lan1s, lan2s, inet, far.
# Environment: DPNAT (binary; default target/release/dpnat, else
# target/debug/dpnat), LAB_STATE_ROOT (default /tmp/dpnat-lab), LAB_LCORES.
set -euo pipefail

# shellcheck source=deploy/lab/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

# Pick the lab to act on: --id, $LAB_ID, or the only one there is.
resolve_id() {
	local want=${1:-${LAB_ID:-}} ids
	if [ -n "$want" ]; then
		printf '%s\n' "$want"
		return 0
	fi
	ids=$(list_ids)
	if [ "$(printf '%s\n' "$ids" | grep -c .)" -ne 1 ]; then
		echo "lab: say which lab (--id ID); labs: ${ids:-none}" >&2
		return 1
	fi
	printf '%s\n' "$ids"
}

list_ids() {
	ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^dpn-\([0-9a-f]*\)-rtr$/\1/p' | sort -u
}

print_tries() {
	local id=$LAB_ID me variant router hp
	me=$(realpath "${BASH_SOURCE[0]}")
	variant=$(cat "$LAB_DIR/variant")
	router=$(cat "$LAB_DIR/router-kind")
	case $variant in
	rules) hp='hairpin:  seen-from=192.168.88.1 (srcnat rule)' ;;
	auto) hp='hairpin:  seen-from=203.0.113.1 (auto)' ;;
	*) hp='hairpin without the rule: times out (seed story)' ;;
	esac
	cat <<EOF

dpnat lab $id is up (router: $router, config variant: $variant, files: $LAB_DIR)

  LAN1 192.168.88.0/24  lan1c .10 (client), lan1s .20 (server :443, udp :7, iperf3)
  LAN2 192.168.89.0/24  lan2s .20 (server :443 :8443, udp :7)
  WAN  203.0.113.0/24   dpnat .1 (public), inet .254 (server :80 :443, udp :7, iperf3)
  far  198.51.100.10 behind inet over a 1280-byte MTU link

Things to try (each server answers with the source address it saw):
  $me exec --id $id lan1c curl -s http://203.0.113.254/        # outbound: seen-from=203.0.113.1
  $me exec --id $id lan1c curl -s http://203.0.113.1:443/      # $hp
  $me exec --id $id inet  curl -s http://203.0.113.1:443/      # port forward from the internet
  $me exec --id $id lan1c curl -s http://203.0.113.1:8443/     # hairpin to LAN2, no extra rule
  $me exec --id $id lan1c traceroute -n 203.0.113.254          # first hop 192.168.88.1
  $me exec --id $id lan1c ping -M do -s 1300 -c 2 198.51.100.10  # frag needed, mtu 1280
  $me exec --id $id lan1c iperf3 -c 203.0.113.254 -t 5
  $me exec --id $id lan1c bash                                  # a shell on the LAN client
EOF
	if [ -n "${METRICS_PORT:-}" ]; then
		echo "  curl -s http://127.0.0.1:$METRICS_PORT/metrics                 # dpnat's metrics"
	else
		echo "  $me exec --id $id rtr curl -s http://127.0.0.1:9469/metrics   # dpnat's metrics"
	fi
}

# Relay dpnat's metrics (it listens inside rtr) to the root namespace's
# loopback; a process, not a route.
start_metrics_relay() {
	local port=$1
	setsid socat "TCP4-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" \
		"EXEC:ip netns exec $(lab_ns rtr) socat STDIO TCP4\:127.0.0.1\:9469" \
		</dev/null >>"$LAB_DIR/metrics-relay.log" 2>&1 &
	printf '%s metrics-relay\n' "$!" >>"$LAB_DIR/pids"
}

# The seed story's check, done for the user: curl the public address from
# the LAN client.
try_hairpin() {
	local out
	echo "Trying it for you: lan1c curl http://203.0.113.1:443/"
	if out=$(lab_x lan1c timeout 10 curl -sS --max-time 5 http://203.0.113.1:443/ 2>&1); then
		echo "  -> $out"
	else
		echo "  -> failed: $out"
		return 1
	fi
}

# demo: the other suggestions too, each bounded.
try_all() {
	local rc=0
	while IFS='|' read -r host cmd; do
		echo "\$ lab.sh exec $host $cmd"
		# shellcheck disable=SC2086 # the command words split on purpose
		lab_x "$host" timeout 20 $cmd 2>&1 | sed 's/^/    /' || rc=1
	done <<'TRIES'
lan1c|curl -sS --max-time 5 http://203.0.113.254/
inet|curl -sS --max-time 5 http://203.0.113.1:443/
lan1c|curl -sS --max-time 5 http://203.0.113.1:8443/
lan1c|ping -c 2 -W 2 192.168.88.1
lan1c|traceroute -n -q 1 -w 2 -m 3 203.0.113.254
lan1c|iperf3 -c 203.0.113.254 -t 2
TRIES
	# frag-needed makes ping exit non-zero: expected, not a failure
	echo "\$ lab.sh exec lan1c ping -M do -s 1300 -c 2 198.51.100.10"
	{ lab_x lan1c timeout 10 ping -n -c 2 -W 3 -M 'do' -s 1300 198.51.100.10 2>&1 || true; } | sed 's/^/    /'
	return "$rc"
}

cmd_up() {
	local mode=$1 variant=rules id=
	shift
	METRICS_PORT=
	while [ $# -gt 0 ]; do
		case $1 in
		--variant) variant=$2; shift 2 ;;
		--id) id=$2; shift 2 ;;
		--metrics-port) METRICS_PORT=$2; shift 2 ;;
		--router) LAB_ROUTER=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	[ -n "$id" ] || id=$(lab_new_id)
	lab_init "$id"
	# Whatever happens from here, a failed or interrupted start leaves nothing.
	# (a repeated INT/TERM must not interrupt the teardown itself)
	trap 'trap "" INT TERM; lab_down "$LAB_ID"' EXIT
	trap 'trap "" INT TERM; exit 130' INT
	trap 'trap "" INT TERM; exit 143' TERM
	lab_up "$variant"
	[ -n "$METRICS_PORT" ] && start_metrics_relay "$METRICS_PORT"
	print_tries
	echo
	try_hairpin || { [ "$mode" = demo ] && return 1; }
	if [ "$mode" = demo ]; then
		try_all
		return $?
	fi
	if [ "$mode" = up ]; then
		trap - EXIT INT TERM
		echo
		echo "LAB_ID=$LAB_ID   (remove with: $(realpath "${BASH_SOURCE[0]}") down $LAB_ID)"
		return 0
	fi
	echo
	echo "Ctrl-C stops dpnat and removes the lab."
	if [ ! -e "$LAB_DIR/router.pid" ]; then
		# the kernel reference router has no process to watch
		while :; do sleep 1; done
	fi
	while lab_pid_alive "$(cat "$LAB_DIR/router.pid" 2>/dev/null)"; do
		sleep 1
	done
	echo "dpnat exited; log tail:" >&2
	tail -n 20 "$LAB_DIR/dpnat.log" >&2 || true
	return 1
}

main() {
	[ "$(id -u)" -eq 0 ] || { echo "lab: needs root (network namespaces)" >&2; exit 1; }
	[ $# -ge 1 ] || usage
	local cmd=$1 id=
	shift
	case $cmd in
	up | run | demo) cmd_up "$cmd" "$@" ;;
	down)
		if [ "${1:-}" = --all ]; then
			for id in $(list_ids); do LAB_ID=$id lab_down "$id"; done
		else
			id=$(resolve_id "${1:-}")
			LAB_ID=$id lab_down "$id"
		fi
		;;
	restart)
		[ "${1:-}" = --id ] && { id=$2; shift 2; }
		[ $# -eq 1 ] || usage
		lab_init "$(resolve_id "$id")"
		lab_restart "$1"
		;;
	exec)
		[ "${1:-}" = --id ] && { id=$2; shift 2; }
		[ $# -ge 2 ] || usage
		LAB_ID=$(resolve_id "$id")
		local host=$1
		shift
		exec ip netns exec "$(lab_ns "$host")" "$@"
		;;
	list) list_ids ;;
	*) usage ;;
	esac
}

main "$@"
