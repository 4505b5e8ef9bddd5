# shellcheck shell=bash disable=SC2034
# tests/e2e/scenarios.sh: issue #4's acceptance list, one function per
# scenario, run by tests/e2e/run.sh against the NAT lab (deploy/lab).
# Every server answers "seen-from=ADDR:PORT server=NAME", so each check says
# both who answered and which source NAT gave the packets.
#
# Addresses: lan1c 192.168.88.10, lan1s .20 (router .1); lan2s 192.168.89.20
# (router .1); dpnat public 203.0.113.1, inet 203.0.113.254; far
# 198.51.100.10 behind inet over a 1280 MTU link.

# Scenario names per config variant, in run order (run.sh reads these).
SC_RULES=(outbound_tcp outbound_udp outbound_icmp outbound_lan2 port_forward_tcp
	port_forward_udp hairpin_rule_same_subnet hairpin_diff_subnet router_ping
	ttl_exceeded traceroute pmtu_frag_needed checksums transfer_100mb iperf3_tcp iperf3_udp)
SC_NOHAIRPIN=(hairpin_norule_fails)
SC_AUTO=(hairpin_auto_tcp hairpin_auto_udp hairpin_auto_diff_subnet)

# ------------------------------------------------- variant "rules" (seed) --

# LAN client to the internet: the WAN host sees the public address.
sc_outbound_tcp() { e2e_expect_tcp lan1c "http://$LAB_INET/" inet "$LAB_WAN_ADDR"; }
sc_outbound_udp() { e2e_expect_udp lan1c "$LAB_INET" 7 inet "$LAB_WAN_ADDR"; }
sc_outbound_lan2() { e2e_expect_tcp lan2s "http://$LAB_INET/" inet "$LAB_WAN_ADDR"; }

# Echo through masquerade; a capture on inet shows only the public source.
sc_outbound_icmp() {
	local cap=$LAB_DIR/outbound-icmp.pcap pid srcs
	e2e_capture_start inet eth0 "$cap" icmp || return 1
	pid=$E2E_CAP_PID
	e2e_expect_ping lan1c "$LAB_INET" || { e2e_capture_stop "$pid"; return 1; }
	e2e_capture_stop "$pid"
	srcs=$(e2e_tshark "$cap" 'icmp.type == 8' ip.src | sort -u | tr '\n' ' ')
	echo "echo requests seen by inet from: $srcs"
	[ "$srcs" = "$LAB_WAN_ADDR " ] || { e2e_fail "inet saw echo requests from '$srcs', want only $LAB_WAN_ADDR"; return 1; }
}

# Port forward from the internet; dst-nat keeps the source.
sc_port_forward_tcp() { e2e_expect_tcp inet "http://$LAB_WAN_ADDR:443/" lan1s "$LAB_INET"; }
sc_port_forward_udp() { e2e_expect_udp inet "$LAB_WAN_ADDR" 7 lan1s "$LAB_INET"; }

# Seed story with its "missing piece": the srcnat masquerade rule makes the
# server see the router's LAN address, so the reply goes back through dpnat.
sc_hairpin_rule_same_subnet() {
	e2e_expect_tcp lan1c "http://$LAB_WAN_ADDR:443/" lan1s "$LAB_LAN1_GW"
}

# Server on another subnet: the reply routes back through dpnat anyway, so
# no extra rule; the server sees the client itself.
sc_hairpin_diff_subnet() {
	e2e_expect_tcp lan1c "http://$LAB_WAN_ADDR:8443/" lan2s "$LAB_LAN1_CLIENT"
}

# dpnat answers ping on each of its addresses, from each side.
sc_router_ping() {
	e2e_expect_ping lan1c "$LAB_LAN1_GW" &&
		e2e_expect_ping lan1c "$LAB_WAN_ADDR" &&
		e2e_expect_ping lan2s "$LAB_LAN2_GW" &&
		e2e_expect_ping inet "$LAB_WAN_ADDR"
}

# TTL 1 dies at dpnat, which says so from its LAN address.
sc_ttl_exceeded() {
	local out
	out=$(lab_x lan1c timeout 10 ping -n -c 1 -W 3 -t 1 "$LAB_INET" 2>&1 || true)
	echo "$out"
	grep -Eq "From $LAB_LAN1_GW .*Time to live exceeded" <<<"$out" ||
		{ e2e_fail "no time exceeded from $LAB_LAN1_GW for ping -t 1: $(tr '\n' ' ' <<<"$out" | cut -c1-160)"; return 1; }
}

# Classic UDP traceroute: hop 1 is dpnat (time exceeded it makes), hop 2 the
# WAN host (its port unreachable, translated back through the NAT).
sc_traceroute() {
	local out h1 h2
	out=$(lab_x lan1c timeout 40 traceroute -n -q 1 -w 2 -m 4 "$LAB_INET" 2>&1 || true)
	echo "$out"
	h1=$(awk '$1 == "1" { print $2 }' <<<"$out")
	h2=$(awk '$1 == "2" { print $2 }' <<<"$out")
	[ "$h1" = "$LAB_LAN1_GW" ] || { e2e_fail "traceroute hop 1 is '$h1', want $LAB_LAN1_GW"; return 1; }
	[ "$h2" = "$LAB_INET" ] || { e2e_fail "traceroute hop 2 is '$h2', want $LAB_INET (port unreachable translated back)"; return 1; }
}

# A WAN-side router (inet) with a 1280 MTU link to far sends frag-needed to
# 203.0.113.1; dpnat must translate it (outer and quoted headers) to the
# client, whose ping then reports it.
sc_pmtu_frag_needed() {
	local cap=$LAB_DIR/pmtu.pcap pid out rows
	e2e_expect_ping lan1c "$LAB_FAR" -s 1000 || { e2e_fail "far host not reachable with small packets"; return 1; }
	e2e_capture_start lan1c eth0 "$cap" icmp || return 1
	pid=$E2E_CAP_PID
	out=$(lab_x lan1c timeout 20 ping -n -c 3 -i 0.5 -W 2 -M 'do' -s 1300 "$LAB_FAR" 2>&1 || true)
	e2e_capture_stop "$pid"
	echo "$out"
	grep -Eqi "frag needed|mtu ?= ?$LAB_FAR_MTU" <<<"$out" ||
		{ e2e_fail "ping -M do -s 1300 got no frag-needed: $(tr '\n' ' ' <<<"$out" | cut -c1-160)"; return 1; }
	rows=$(e2e_tshark "$cap" "icmp.type == 3 && icmp.code == 4 && ip.dst == $LAB_LAN1_CLIENT" ip.src ip.dst icmp.mtu)
	echo "frag-needed at lan1c (outer,inner src / outer,inner dst / mtu):"
	echo "$rows"
	[ -n "$rows" ] || { e2e_fail "no ICMP 3/4 reached $LAB_LAN1_CLIENT"; return 1; }
	# ip.src: outer, inner; ip.dst: outer, inner.
	awk -F'\t' -v c="$LAB_LAN1_CLIENT" -v f="$LAB_FAR" -v m="$LAB_FAR_MTU" '
		{ split($1, s, ","); split($2, d, ",");
		  if (d[1] != c || s[2] != c || d[2] != f || $3 != m) bad = 1 }
		END { exit bad }' <<<"$rows" ||
		{ e2e_fail "frag-needed not translated right (want inner $LAB_LAN1_CLIENT -> $LAB_FAR, mtu $LAB_FAR_MTU): $(head -n 1 <<<"$rows")"; return 1; }
	e2e_checksums_clean "$cap" "lan1c/eth0 frag-needed" "eth.src == $LAB_MAC_LAN1 && icmp.type == 3"
}

# Receiving-side captures around dpnat while traffic of every kind crosses:
# no bad outer or quoted checksum anywhere, and each protocol is present.
sc_checksums() {
	local h pids=() rc=0 mac
	declare -A caps=([inet]=eth0 [lan1c]=eth0 [lan1s]=eth0 [lan2s]=eth0)
	# dpnat's port MAC on each segment: the frames it produced.
	declare -A from=([inet]=$LAB_MAC_WAN [lan1c]=$LAB_MAC_LAN1 [lan1s]=$LAB_MAC_LAN1 [lan2s]=$LAB_MAC_LAN2)
	for h in "${!caps[@]}"; do
		e2e_capture_start "$h" "${caps[$h]}" "$LAB_DIR/csum-$h.pcap" || return 1
		pids+=("$E2E_CAP_PID")
	done
	e2e_http lan1c "http://$LAB_INET/" >/dev/null 2>&1 || true
	e2e_udp lan1c "$LAB_INET" 7 >/dev/null 2>&1 || true
	lab_x lan1c ping -n -c 2 -i 0.2 -W 2 -s 1200 "$LAB_INET" >/dev/null 2>&1 || true
	e2e_http inet "http://$LAB_WAN_ADDR:443/" >/dev/null 2>&1 || true
	e2e_udp inet "$LAB_WAN_ADDR" 7 >/dev/null 2>&1 || true
	e2e_http lan1c "http://$LAB_WAN_ADDR:443/" >/dev/null 2>&1 || true
	e2e_http lan1c "http://$LAB_WAN_ADDR:8443/" >/dev/null 2>&1 || true
	lab_x lan1c ping -n -c 1 -W 2 -t 1 "$LAB_INET" >/dev/null 2>&1 || true
	# UDP to a closed port: inet's port unreachable comes back translated.
	printf 'x\n' | lab_x lan1c timeout 4 socat -T 2 - "UDP4:$LAB_INET:9" >/dev/null 2>&1 || true
	lab_x lan1c ping -n -c 1 -W 2 -M 'do' -s 1300 "$LAB_FAR" >/dev/null 2>&1 || true
	lab_x lan1c timeout 30 iperf3 -c "$LAB_INET" -n 4M >/dev/null 2>&1 || true
	for h in "${pids[@]}"; do e2e_capture_stop "$h"; done
	for h in "${!caps[@]}"; do
		e2e_checksums_clean "$LAB_DIR/csum-$h.pcap" "$h/${caps[$h]}" "eth.src == ${from[$h]}" || rc=1
	done
	# Frames dpnat itself put on the wire (its port MAC as source).
	mac="eth.src == $LAB_MAC_WAN"
	e2e_require_frames "$LAB_DIR/csum-inet.pcap" inet "$mac && tcp" "TCP from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-inet.pcap" inet "$mac && udp" "UDP from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-inet.pcap" inet "$mac && icmp" "ICMP from dpnat" || rc=1
	mac="eth.src == $LAB_MAC_LAN1"
	e2e_require_frames "$LAB_DIR/csum-lan1c.pcap" lan1c "$mac && tcp" "TCP from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan1c.pcap" lan1c "$mac && udp" "UDP from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan1c.pcap" lan1c "$mac && icmp.type == 0" "echo replies from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan1c.pcap" lan1c "$mac && icmp.type == 11" "time exceeded from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan1c.pcap" lan1c "$mac && icmp.type == 3" "translated ICMP errors" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan1s.pcap" lan1s "eth.src == $LAB_MAC_LAN1 && tcp" "TCP from dpnat" || rc=1
	e2e_require_frames "$LAB_DIR/csum-lan2s.pcap" lan2s "eth.src == $LAB_MAC_LAN2 && tcp" "TCP from dpnat" || rc=1
	return "$rc"
}

# >= 100 MiB from a LAN client to the internet through masquerade.
sc_transfer_100mb() { e2e_transfer lan1c inet "$LAB_INET" 5001 "${E2E_TRANSFER_MIB:-100}"; }

sc_iperf3_tcp() { e2e_iperf3 lan1c "$LAB_INET" && e2e_iperf3 lan1c "$LAB_INET" -R; }
sc_iperf3_udp() { e2e_iperf3 lan1c "$LAB_INET" -u -b 20M; }

# --------------------------------------------- variant "nohairpin" (seed) --

# The seed story's first attempt: the port forward alone. From the internet
# it works; from the LAN the server answers the client directly, the client
# drops that, and the connection times out.
sc_hairpin_norule_fails() {
	local out
	e2e_expect_tcp inet "http://$LAB_WAN_ADDR:443/" lan1s "$LAB_INET" || return 1
	if out=$(E2E_CONNECT_TIMEOUT=4 e2e_http lan1c "http://$LAB_WAN_ADDR:443/" 2>&1); then
		e2e_fail "hairpin without the srcnat rule worked, want a timeout as in the seed story (got: $(tr '\n' ' ' <<<"$out"))"
		return 1
	fi
	echo "ok: lan1c -> $LAB_WAN_ADDR:443 failed as expected: $(tr '\n' ' ' <<<"$out")"
}

# ------------------------------------------------------ variant "auto" --

# Standards-style hairpin (RFC 4787 REQ-9 / N11): the server sees the
# client's external address, as an outside peer would, with no srcnat rule.
sc_hairpin_auto_tcp() { e2e_expect_tcp lan1c "http://$LAB_WAN_ADDR:443/" lan1s "$LAB_WAN_ADDR"; }
sc_hairpin_auto_udp() { e2e_expect_udp lan1c "$LAB_WAN_ADDR" 7 lan1s "$LAB_WAN_ADDR"; }
sc_hairpin_auto_diff_subnet() { e2e_expect_tcp lan1c "http://$LAB_WAN_ADDR:8443/" lan2s "$LAB_WAN_ADDR"; }
