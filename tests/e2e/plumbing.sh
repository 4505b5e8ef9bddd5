#!/usr/bin/env bash
# tests/e2e/plumbing.sh: proves the lab wiring with dpdk-testpmd in dpnat's
# place. testpmd (io forwarding) joins two net_tap ports blindly, so both
# hosts live in one subnet:
#
#   pa 192.168.88.10 --veth-- [sw1: br0] --up0 = tap p0--+
#                                                         | testpmd io (rtr ns)
#   pb 192.168.88.20 ---------------- eth0 = tap p1 ------+
#
# This exercises exactly what the NAT lab uses: the router in its own
# namespace, taps moved out once up, a tap in a bridge, a tap as a host's
# interface, offloads off, responders, captures, the bulk transfer.
# Run alone (root):  tests/e2e/plumbing.sh     or as part of tests/e2e/run.sh.

PLUMB_NAMES=(plumbing_wiring plumbing_offloads plumbing_ping plumbing_tcp plumbing_udp
	plumbing_iperf3_tcp plumbing_iperf3_udp plumbing_checksums plumbing_transfer_100mb)

plumb_build() {
	local h
	for h in rtr sw1 pa pb; do lab_ns_add "$h" || return 1; done
	lab_bridge sw1 br0 || return 1
	lab_veth sw1 pa pa eth0 || return 1
	lab_run lab_x sw1 ip link set dev pa master br0 || return 1
	lab_host_addr pa eth0 192.168.88.10/24 || return 1
	lab_servers pa pa 443 7
	lab_servers pb pb 443 7
	lab_iperf3_server pb

	# The safety timeout only bounds a run whose cleanup never came.
	lab_bg rtr testpmd timeout -k 5 "${PLUMB_TESTPMD_TIMEOUT:-1800}" dpdk-testpmd \
		-l "${LAB_LCORES:-0-1}" --no-pci --no-huge -m 256 --file-prefix "$LAB_PREFIX" \
		--vdev "net_tap0,iface=$TAP_P0,mac=$LAB_MAC_LAN1" \
		--vdev "net_tap1,iface=$TAP_P1,mac=$LAB_MAC_LAN2" \
		-- --forward-mode=io --auto-start --stats-period 3600 --total-num-mbufs=8192
	printf '%s\n' "$LAB_LAST_PID" >"$LAB_DIR/router.pid"
	{ lab_wait_tap "$TAP_P0" "$LAB_LAST_PID" && lab_wait_tap "$TAP_P1" "$LAB_LAST_PID"; } || {
		tail -n 20 "$LAB_DIR/testpmd.log" >&2
		return 1
	}
	lab_tap_move "$TAP_P0" sw1 up0 "$LAB_KMAC_LAN1" || return 1
	lab_run lab_x sw1 ip link set dev up0 master br0 || return 1
	lab_tap_move "$TAP_P1" pb eth0 "$LAB_KMAC_LAN2" || return 1
	lab_host_addr pb eth0 192.168.88.20/24 || return 1
	lab_wait_listen pb tcp 443 && lab_wait_listen pa tcp 443 && lab_wait_listen pb tcp 5201 || return 1
	lab_wait_ping pa 192.168.88.20 "$LAB_LAST_PID"
}

# The hosts really sit on DPDK taps, with the MACs we chose.
plumb_wiring() {
	local d
	d=$(lab_x pb ip -d link show dev eth0)
	grep -q 'tun type tap' <<<"$d" || { e2e_fail "pb eth0 is not a tap: $d"; return 1; }
	grep -q "link/ether $LAB_KMAC_LAN2" <<<"$d" || { e2e_fail "pb eth0 MAC not $LAB_KMAC_LAN2"; return 1; }
	d=$(lab_x sw1 ip -d link show dev up0)
	{ grep -q 'tun type tap' <<<"$d" && grep -q 'master br0' <<<"$d"; } || { e2e_fail "sw1 up0 is not a tap in br0: $d"; return 1; }
	{ grep -qi "Port 0: $LAB_MAC_LAN1" "$LAB_DIR/testpmd.log" && grep -qi "Port 1: $LAB_MAC_LAN2" "$LAB_DIR/testpmd.log"; } ||
		{ e2e_fail "testpmd ports did not take the mac= devargs"; return 1; }
	ip -n "$(lab_ns rtr)" -o link show | grep -q "$TAP_P0" && { e2e_fail "tap still in rtr"; return 1; }
	echo "ok: taps moved (sw1/up0 in br0, pb/eth0), kernel MACs differ from the DPDK port MACs"
}

plumb_offloads() {
	local h k f
	for h in pa:eth0 pb:eth0 sw1:up0 sw1:pa; do
		k=$(lab_x "${h%%:*}" ethtool -k "${h#*:}")
		for f in tx-checksumming tcp-segmentation-offload generic-segmentation-offload generic-receive-offload; do
			grep -q "^$f: off" <<<"$k" || { e2e_fail "$h: $f is not off"; return 1; }
		done
		echo "ok: $h tx csum/tso/gso/gro off"
	done
}

plumb_ping() {
	e2e_expect_ping pa 192.168.88.20 &&
		e2e_expect_ping pb 192.168.88.10 &&
		e2e_expect_ping pa 192.168.88.20 -M 'do' -s 1472 # a full 1500-byte frame
}

plumb_tcp() {
	e2e_expect_tcp pa http://192.168.88.20:443/ pb 192.168.88.10 &&
		e2e_expect_tcp pb http://192.168.88.10:443/ pa 192.168.88.20
}

plumb_udp() {
	e2e_expect_udp pa 192.168.88.20 7 pb 192.168.88.10 &&
		e2e_expect_udp pb 192.168.88.10 7 pa 192.168.88.20
}

plumb_iperf3_tcp() { e2e_iperf3 pa 192.168.88.20 && e2e_iperf3 pa 192.168.88.20 -R; }
plumb_iperf3_udp() { e2e_iperf3 pa 192.168.88.20 -u -b 20M; }

plumb_checksums() {
	local ca=$LAB_DIR/plumb-pa.pcap cb=$LAB_DIR/plumb-pb.pcap pa_pid pb_pid rc=0
	e2e_capture_start pb eth0 "$cb" || return 1
	pb_pid=$E2E_CAP_PID
	e2e_capture_start pa eth0 "$ca" || return 1
	pa_pid=$E2E_CAP_PID
	e2e_http pa http://192.168.88.20:443/ >/dev/null 2>&1 || true
	e2e_udp pa 192.168.88.20 7 >/dev/null 2>&1 || true
	lab_x pa ping -c 2 -i 0.2 -W 2 -s 1400 192.168.88.20 >/dev/null 2>&1 || true
	lab_x pa timeout 30 iperf3 -c 192.168.88.20 -n 2M >/dev/null 2>&1 || true
	e2e_capture_stop "$pb_pid"
	e2e_capture_stop "$pa_pid"
	# What crossed testpmd: the other host's frames (made by its Linux stack).
	e2e_checksums_clean "$cb" pb/eth0 "ip.src == 192.168.88.10" "$E2E_BAD_FILTER_HOST" || rc=1
	e2e_checksums_clean "$ca" pa/eth0 "ip.src == 192.168.88.20" "$E2E_BAD_FILTER_HOST" || rc=1
	# Frames that crossed testpmd, per protocol, on the receiving side.
	e2e_require_frames "$cb" pb/eth0 'ip.src == 192.168.88.10 && tcp' "TCP from pa" || rc=1
	e2e_require_frames "$cb" pb/eth0 'ip.src == 192.168.88.10 && udp' "UDP from pa" || rc=1
	e2e_require_frames "$cb" pb/eth0 'ip.src == 192.168.88.10 && icmp' "ICMP from pa" || rc=1
	e2e_require_frames "$ca" pa/eth0 'ip.src == 192.168.88.20 && tcp' "TCP from pb" || rc=1
	return "$rc"
}

plumb_transfer() { e2e_transfer pa pb 192.168.88.20 5001 "${E2E_TRANSFER_MIB:-100}"; }

# After teardown nothing of the plumbing lab is left.
plumb_cleaned() {
	local id=$1 left
	left=$(ip netns list | grep "^dpn-$id-" || true)
	[ -z "$left" ] || { e2e_fail "namespaces left: $left"; return 1; }
	[ ! -e "/var/run/dpdk/dpn$id" ] || { e2e_fail "/var/run/dpdk/dpn$id left"; return 1; }
	[ ! -e "$LAB_STATE_ROOT/$id" ] || { e2e_fail "state dir $LAB_STATE_ROOT/$id left"; return 1; }
	ip -o link show | grep -q "dpn$id" && { e2e_fail "an interface of lab $id is in the root namespace"; return 1; }
	echo "ok: nothing of lab $id left"
}

plumbing_main() {
	local id
	id=$(lab_new_id) || { e2e_fail_all "no free lab id" "${PLUMB_NAMES[@]}"; return 0; }
	lab_init "$id" || { e2e_fail_all "lab init failed" "${PLUMB_NAMES[@]}"; return 0; }
	TAP_P0=dpn${id}p0
	TAP_P1=dpn${id}p1
	export TAP_P0 TAP_P1
	E2E_LABS+=("$id")
	echo "# plumbing: lab $id (testpmd in dpnat's place)"
	if ! command -v dpdk-testpmd >/dev/null; then
		e2e_fail_all "dpdk-testpmd not installed" "${PLUMB_NAMES[@]}"
	elif ! plumb_build >"$E2E_LOGS/plumbing-build.log" 2>&1; then
		e2e_fail_all "lab did not come up: $(grep -v '^\s*$' "$E2E_LOGS/plumbing-build.log" | tail -n 1)" "${PLUMB_NAMES[@]}"
	else
		e2e_scenario plumbing_wiring plumb_wiring
		e2e_scenario plumbing_offloads plumb_offloads
		e2e_scenario plumbing_ping plumb_ping
		e2e_scenario plumbing_tcp plumb_tcp
		e2e_scenario plumbing_udp plumb_udp
		e2e_scenario plumbing_iperf3_tcp plumb_iperf3_tcp
		e2e_scenario plumbing_iperf3_udp plumb_iperf3_udp
		e2e_scenario plumbing_checksums plumb_checksums
		E2E_TIMEOUT_OVERRIDE=300 e2e_scenario plumbing_transfer_100mb plumb_transfer
	fi
	e2e_lab_down "$id"
	e2e_scenario plumbing_cleanup plumb_cleaned "$id"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	# shellcheck source=deploy/lab/lib.sh
	. "$here/../../deploy/lab/lib.sh"
	# shellcheck source=tests/e2e/lib.sh
	. "$here/lib.sh"
	e2e_main_start
	plumbing_main
	e2e_main_end
fi
