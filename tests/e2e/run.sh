#!/usr/bin/env bash
# tests/e2e/run.sh: end-to-end tests of dpnat in the namespace lab (root).
#
#   tests/e2e/run.sh [--only plumbing|nat] [--router dpnat|kernel] [scenario...]
#
# 1. plumbing (tests/e2e/plumbing.sh): the lab wiring through DPDK net_tap,
#    with dpdk-testpmd in dpnat's place.
# 2. nat: issue #4's acceptance list against the real dpnat binary ($DPNAT,
#    default target/release/dpnat, else target/debug/dpnat), in three config
#    variants (rules, nohairpin, auto) on one lab whose hosts stay up while
#    dpnat restarts. --router kernel runs the same scenarios against Linux +
#    nftables (a known-good NAT) to check the tests themselves.
#
# Each scenario prints "PASS name" or "FAIL name: why"; the last line is
# "e2e: N passed, N failed" and the exit status is non-zero on any failure.
# Everything created (namespaces, processes, DPDK files) is removed on every
# exit path. Logs (dpnat.log, captures) stay in $E2E_LOGS.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lab/lib.sh
. "$here/../../deploy/lab/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/e2e/scenarios.sh
. "$here/scenarios.sh"
# shellcheck source=tests/e2e/plumbing.sh
. "$here/plumbing.sh"

only=
pick=()
while [ $# -gt 0 ]; do
	case $1 in
	--only) only=$2; shift 2 ;;
	--router) LAB_ROUTER=$2; export LAB_ROUTER; shift 2 ;;
	-h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	*) pick+=("$1"); shift ;;
	esac
done

# wanted <name>: no names given means all.
wanted() {
	local p
	[ ${#pick[@]} -eq 0 ] && return 0
	for p in "${pick[@]}"; do [ "$p" = "$1" ] && return 0; done
	return 1
}

# why_from <log>: the lab's own last complaint, else the log's last line.
why_from() {
	local w
	w=$(grep '^\[lab ' "$1" | tail -n 1)
	[ -n "$w" ] || w=$(grep -v '^\s*$' "$1" | tail -n 1)
	printf '%s\n' "$w"
}

# run_variant <variant> <names...>: (re)start the router with that config
# and run the wanted scenarios; if the router does not come up, they fail.
hosts_up=
run_variant() {
	local variant=$1 names=() n log
	shift
	for n in "$@"; do wanted "$n" && names+=("$n"); done
	[ ${#names[@]} -gt 0 ] || return 0
	echo "# nat: config variant $variant (router: ${LAB_ROUTER:-dpnat})"
	if [ -z "$hosts_up" ]; then
		log=$E2E_LOGS/lab-hosts.log
		if ! lab_build_hosts >"$log" 2>&1; then
			e2e_fail_all "lab hosts did not come up: $(why_from "$log")" "${names[@]}"
			return 0
		fi
		hosts_up=1
	fi
	log=$E2E_LOGS/router-$variant.log
	if ! lab_restart "$variant" >"$log" 2>&1; then
		e2e_fail_all "router did not come up ($variant): $(why_from "$log")" "${names[@]}"
		return 0
	fi
	for n in "${names[@]}"; do
		case $n in
		transfer_100mb) E2E_TIMEOUT_OVERRIDE=300 e2e_scenario "$n" "sc_$n" ;;
		*) e2e_scenario "$n" "sc_$n" ;;
		esac
	done
}

e2e_main_start

if [ "$only" != nat ] && { [ ${#pick[@]} -eq 0 ] || wanted plumbing; }; then
	plumbing_main
fi

if [ "$only" != plumbing ]; then
	id=$(lab_new_id)
	lab_init "$id"
	E2E_LABS+=("$id")
	echo "# nat: lab $id"
	if [ "${LAB_ROUTER:-dpnat}" = dpnat ] && [ ! -x "$(lab_find_dpnat)" ]; then
		all=()
		for n in "${SC_RULES[@]}" "${SC_NOHAIRPIN[@]}" "${SC_AUTO[@]}"; do wanted "$n" && all+=("$n"); done
		e2e_fail_all "no dpnat binary at $(lab_find_dpnat) (build it or set DPNAT=)" "${all[@]}"
	else
		run_variant rules "${SC_RULES[@]}"
		run_variant nohairpin "${SC_NOHAIRPIN[@]}"
		run_variant auto "${SC_AUTO[@]}"
	fi
	e2e_lab_down "$id"
fi

e2e_main_end
