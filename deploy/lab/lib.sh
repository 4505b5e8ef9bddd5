# shellcheck shell=bash disable=SC2034
# deploy/lab/lib.sh: building blocks for the dpnat namespace lab.
# Sourced by deploy/lab/lab.sh and tests/e2e/*.sh; defines functions only.
#
# Invariants:
# - Everything one lab creates carries its id: namespaces dpn-<id>-*, taps
#   dpn<id>*, DPDK file prefix dpn<id>, state dir $LAB_STATE_ROOT/<id>. Two
#   labs (or CI jobs) never collide, and `lab_down <id>` finds everything by
#   name even when the process that built it died.
# - The router (dpnat or testpmd) runs inside its own namespace (…-rtr), so its
#   net_tap interfaces are born there and never appear in the root namespace.
#   Nothing here adds an address or a route to the root namespace.
# - Every wait is bounded; functions return non-zero (never exit) on failure,
#   so callers decide how to report and clean up.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_STATE_ROOT=${LAB_STATE_ROOT:-/tmp/dpnat-lab}
# Seconds to wait for the router's tap interfaces and for it to answer ARP/ping.
LAB_TAP_TIMEOUT=${LAB_TAP_TIMEOUT:-60}
LAB_READY_TIMEOUT=${LAB_READY_TIMEOUT:-30}

# Fixed addressing plan (documentation/private ranges, only inside lab
# namespaces); tests use these names too.
LAB_LAN1_NET=192.168.88.0/24
LAB_LAN1_GW=192.168.88.1
LAB_LAN1_CLIENT=192.168.88.10
LAB_LAN1_SERVER=192.168.88.20
LAB_LAN2_NET=192.168.89.0/24
LAB_LAN2_GW=192.168.89.1
LAB_LAN2_SERVER=192.168.89.20
LAB_WAN_NET=203.0.113.0/24
LAB_WAN_ADDR=203.0.113.1
LAB_INET=203.0.113.254
LAB_FAR_NET=198.51.100.0/24
LAB_FAR_GW=198.51.100.1
LAB_FAR=198.51.100.10
LAB_FAR_MTU=1280
# dpnat's port MACs (also given to net_tap via mac=, so the PMD and any
# later rte_eth_dev_default_mac_addr_set agree) and the kernel-side MACs the
# tap ends get once moved (net_tap gives the kernel end the port's MAC).
LAB_MAC_LAN1=02:d0:00:00:00:01
LAB_MAC_LAN2=02:d0:00:00:00:02
LAB_MAC_WAN=02:d0:00:00:00:03
LAB_KMAC_LAN1=02:e0:00:00:00:01
LAB_KMAC_LAN2=02:e0:00:00:00:02
LAB_KMAC_WAN=02:e0:00:00:00:03

lab_log() { printf '[lab %s] %s\n' "${LAB_ID:-?}" "$*" >&2; }

# Run a command; on failure say which and return 1 (works under `if`, where
# set -e is off).
lab_run() {
	"$@" || {
		local rc=$?
		lab_log "failed ($rc): $*"
		return 1
	}
}

lab_new_id() {
	local id _
	for _ in 1 2 3 4 5 6 7 8; do
		id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
		if ! ip netns list 2>/dev/null | grep -q "^dpn-$id-" && [ ! -e "$LAB_STATE_ROOT/$id" ]; then
			printf '%s\n' "$id"
			return 0
		fi
	done
	return 1
}

# lab_init <id>: set the per-lab names (namespaces, taps, DPDK prefix, state dir).
lab_init() {
	LAB_ID=$1
	case $LAB_ID in
	*[!0-9a-f]* | "") lab_log "bad lab id '$LAB_ID' (hex only)"; return 1 ;;
	esac
	LAB_DIR=$LAB_STATE_ROOT/$LAB_ID
	LAB_PREFIX=dpn$LAB_ID
	TAP_LAN1=dpn${LAB_ID}l1
	TAP_LAN2=dpn${LAB_ID}l2
	TAP_WAN=dpn${LAB_ID}w
	export LAB_ID LAB_DIR LAB_PREFIX TAP_LAN1 TAP_LAN2 TAP_WAN LAB_STATE_ROOT
	mkdir -p "$LAB_DIR"
}

# lab_ns <short>: full namespace name of a lab host (rtr, sw1, lan1c, ...).
lab_ns() { printf 'dpn-%s-%s' "$LAB_ID" "$1"; }

# lab_x <short> cmd...: run a command inside a lab host.
lab_x() {
	local ns
	ns=$(lab_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

lab_ns_add() {
	local ns
	ns=$(lab_ns "$1")
	lab_run ip netns add "$ns" || return 1
	lab_run ip -n "$ns" link set lo up || return 1
	# No IPv6: keeps router solicitations and MLD off dpnat's ports.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

# lab_if_prep <short> <dev> [mtu]: offloads off (full checksums, no
# super-frames reach a capture or dpnat), IPv6 off, link up.
lab_if_prep() {
	local ns=$1 dev=$2 mtu=${3:-}
	lab_x "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 || true
	lab_x "$ns" ethtool -K "$dev" rx off >/dev/null 2>&1 || true
	lab_x "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1 || true
	if [ -n "$mtu" ]; then
		lab_run lab_x "$ns" ip link set dev "$dev" mtu "$mtu" || return 1
	fi
	lab_run lab_x "$ns" ip link set dev "$dev" up
}

# lab_veth <nsA> <devA> <nsB> <devB> [mtu]
lab_veth() {
	local a=$1 da=$2 b=$3 db=$4 mtu=${5:-}
	lab_run ip -n "$(lab_ns "$a")" link add "$da" type veth peer name "$db" netns "$(lab_ns "$b")" || return 1
	lab_if_prep "$a" "$da" "$mtu" && lab_if_prep "$b" "$db" "$mtu"
}

# lab_host_addr <short> <dev> <cidr> [gateway]
lab_host_addr() {
	lab_run lab_x "$1" ip addr add "$3" dev "$2" || return 1
	if [ -n "${4:-}" ]; then
		lab_run lab_x "$1" ip route replace default via "$4" dev "$2" || return 1
	fi
}

# lab_bridge <short> <br>: a learning bridge (the "switch"); STP off so ports
# forward at once.
lab_bridge() {
	lab_run lab_x "$1" ip link add "$2" type bridge stp_state 0 forward_delay 0 || return 1
	lab_x "$1" sysctl -qw net.bridge.bridge-nf-call-iptables=0 >/dev/null 2>&1 || true
	lab_if_prep "$1" "$2"
}

lab_pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# lab_wait_tap <tap> <router-pid>: wait (bounded) until the router created the
# tap in the rtr namespace and brought it up. UP means dev_start ran, so the
# PMD has finished its own ioctls on the kernel end before we move it away.
lab_wait_tap() {
	local tap=$1 pid=$2 line deadline
	deadline=$((SECONDS + LAB_TAP_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		line=$(ip -n "$(lab_ns rtr)" -o link show dev "$tap" 2>/dev/null || true)
		case $line in
		*"<UP"* | *",UP"*) return 0 ;;
		esac
		if [ -n "$pid" ] && ! lab_pid_alive "$pid"; then
			lab_log "router (pid $pid) exited before tap $tap came up"
			return 1
		fi
		sleep 0.2
	done
	lab_log "timeout (${LAB_TAP_TIMEOUT}s) waiting for tap $tap to come up"
	return 1
}

# lab_wait_gone <short> <dev>: bounded wait for a device to vanish (a tap dies
# with the router process that owned it).
lab_wait_gone() {
	local deadline=$((SECONDS + 15))
	while lab_x "$1" ip link show dev "$2" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || {
			lab_log "timeout waiting for $2 in $1 to disappear"
			return 1
		}
		sleep 0.2
	done
}

# lab_tap_move <tap> <short> <newname> <kernel-mac> [mtu]: move the tap's
# kernel end from rtr into a host/switch namespace, rename it and give it its
# own MAC (net_tap gives the kernel end the DPDK port's MAC; a bridge would
# then treat frames for dpnat as its own, and a host would share dpnat's MAC).
lab_tap_move() {
	local tap=$1 ns=$2 name=$3 mac=$4 mtu=${5:-}
	lab_run ip -n "$(lab_ns rtr)" link set dev "$tap" netns "$(lab_ns "$ns")" || return 1
	lab_run lab_x "$ns" ip link set dev "$tap" down || return 1
	lab_run lab_x "$ns" ip link set dev "$tap" name "$name" || return 1
	lab_run lab_x "$ns" ip link set dev "$name" address "$mac" || return 1
	lab_if_prep "$ns" "$name" "$mtu"
}

# lab_bg <short> <logname> cmd...: start a long-running process inside a lab
# host in its own session (survives the caller's terminal); records its pid.
lab_bg() {
	local ns=$1 log=$2
	shift 2
	setsid ip netns exec "$(lab_ns "$ns")" "$@" </dev/null >>"$LAB_DIR/$log.log" 2>&1 &
	LAB_LAST_PID=$!
	printf '%s %s\n' "$LAB_LAST_PID" "$log" >>"$LAB_DIR/pids"
}

# lab_servers <short> <name> <tcp-ports> <udp-ports>: responders that answer
# with the peer address they saw ("seen-from=ADDR:PORT server=NAME").
lab_servers() {
	local ns=$1 name=$2 p
	for p in $3; do
		lab_bg "$ns" "$ns-tcp$p" socat "TCP4-LISTEN:$p,fork,reuseaddr" "EXEC:$LAB_LIB_DIR/responder.sh $name tcp"
	done
	for p in $4; do
		lab_bg "$ns" "$ns-udp$p" socat "UDP4-RECVFROM:$p,fork" "EXEC:$LAB_LIB_DIR/responder.sh $name udp"
	done
}

lab_iperf3_server() { lab_bg "$1" "$1-iperf3" iperf3 -s -p 5201; }

# lab_wait_listen <short> <tcp|udp> <port>: bounded wait for a listener.
lab_wait_listen() {
	local flag=-ltn deadline=$((SECONDS + 10))
	[ "$2" = udp ] && flag=-lun
	while ! lab_x "$1" ss -H "$flag" "sport = :$3" 2>/dev/null | grep -q .; do
		[ "$SECONDS" -lt "$deadline" ] || {
			lab_log "timeout waiting for $2 listener :$3 in $1"
			return 1
		}
		sleep 0.1
	done
}

# ---------------------------------------------------------------- topology --

# The NAT lab's hosts (everything except the router's taps):
#   lan1c, lan1s  — behind the lan1 switch (bridge br0 in sw1)
#   lan2s         — gets dpnat's lan2 tap directly
#   inet          — gets dpnat's wan tap directly; also the WAN-side router
#                   to far over a 1280-MTU link
#   far           — 198.51.100.10, behind inet
lab_build_hosts() {
	local h
	for h in rtr sw1 lan1c lan1s lan2s inet far; do
		lab_ns_add "$h" || return 1
	done
	lab_bridge sw1 br0 || return 1
	lab_veth sw1 pc lan1c eth0 || return 1
	lab_veth sw1 ps lan1s eth0 || return 1
	lab_run lab_x sw1 ip link set dev pc master br0 || return 1
	lab_run lab_x sw1 ip link set dev ps master br0 || return 1
	lab_host_addr lan1c eth0 "$LAB_LAN1_CLIENT/24" "$LAB_LAN1_GW" || return 1
	lab_host_addr lan1s eth0 "$LAB_LAN1_SERVER/24" "$LAB_LAN1_GW" || return 1

	lab_veth inet far0 far eth0 "$LAB_FAR_MTU" || return 1
	lab_host_addr inet far0 "$LAB_FAR_GW/24" || return 1
	lab_host_addr far eth0 "$LAB_FAR/24" "$LAB_FAR_GW" || return 1
	# inet is a router (to far) and must send frag-needed without rate limits.
	lab_run lab_x inet sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 || return 1
	lab_x inet sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null 2>&1 || true

	lab_servers lan1s lan1s "443" "7"
	lab_servers lan2s lan2s "443 8443" "7"
	lab_servers inet inet "80 443" "7"
	lab_servers far far "80" "7"
	lab_iperf3_server lan1s
	lab_iperf3_server inet
	lab_wait_listen lan1s tcp 443 && lab_wait_listen lan2s tcp 8443 &&
		lab_wait_listen inet tcp 80 && lab_wait_listen far udp 7 && lab_wait_listen inet tcp 5201
}

# Move dpnat's three taps out of rtr into place. Call after each router start.
lab_attach_nat_taps() {
	local pid=$1
	lab_wait_tap "$TAP_LAN1" "$pid" && lab_wait_tap "$TAP_LAN2" "$pid" && lab_wait_tap "$TAP_WAN" "$pid" || return 1
	lab_wait_gone sw1 up0 && lab_wait_gone lan2s eth0 && lab_wait_gone inet eth0 || return 1
	lab_tap_move "$TAP_LAN1" sw1 up0 "$LAB_KMAC_LAN1" || return 1
	lab_run lab_x sw1 ip link set dev up0 master br0 || return 1
	lab_tap_move "$TAP_LAN2" lan2s eth0 "$LAB_KMAC_LAN2" || return 1
	lab_host_addr lan2s eth0 "$LAB_LAN2_SERVER/24" "$LAB_LAN2_GW" || return 1
	lab_tap_move "$TAP_WAN" inet eth0 "$LAB_KMAC_WAN" || return 1
	# No route back to the private ranges: the internet only sees 203.0.113.1.
	lab_host_addr inet eth0 "$LAB_INET/24" || return 1
}

# lab_render_config <variant> <out>: variant rules | nohairpin | auto.
lab_render_config() {
	local variant=$1 out=$2 tmpl=${LAB_CONFIG_TEMPLATE:-$LAB_LIB_DIR/dpnat-lab.toml.in} hairpin=rules del=
	case $variant in
	rules) ;;
	nohairpin) del='/# lab:hairpin-rule$/d' ;;
	auto) del='/# lab:hairpin-rule$/d'; hairpin=auto ;;
	*) lab_log "unknown config variant '$variant' (rules|nohairpin|auto)"; return 1 ;;
	esac
	[ -r "$tmpl" ] || { lab_log "no config template $tmpl"; return 1; }
	local drop=()
	[ -z "$del" ] || drop=(-e "$del")
	sed "${drop[@]}" \
		-e "s|@FILE_PREFIX@|$LAB_PREFIX|g" \
		-e "s|@TAP_LAN1@|$TAP_LAN1|g" -e "s|@TAP_LAN2@|$TAP_LAN2|g" -e "s|@TAP_WAN@|$TAP_WAN|g" \
		-e "s|@MAC_LAN1@|$LAB_MAC_LAN1|g" -e "s|@MAC_LAN2@|$LAB_MAC_LAN2|g" -e "s|@MAC_WAN@|$LAB_MAC_WAN|g" \
		-e "s|@HAIRPIN@|$hairpin|g" -e "s|@LCORES@|${LAB_LCORES:-0-1}|g" \
		-e "s|@METRICS@|${LAB_METRICS_LISTEN:-127.0.0.1:9469}|g" \
		"$tmpl" >"$out"
	if grep -n '@[A-Z_0-9]*@' "$out" >&2; then
		lab_log "unreplaced placeholders in $out"
		return 1
	fi
}

lab_find_dpnat() {
	local root
	root=$(cd "$LAB_LIB_DIR/../.." && pwd)
	if [ -n "${DPNAT:-}" ]; then
		printf '%s\n' "$DPNAT"
	elif [ -x "$root/target/release/dpnat" ]; then
		printf '%s\n' "$root/target/release/dpnat"
	else
		printf '%s\n' "$root/target/debug/dpnat"
	fi
}

# lab_router_start_dpnat <variant>: render the config, start dpnat in rtr,
# move its taps into place and wait until it answers ping on its LAN address.
lab_router_start_dpnat() {
	local variant=$1 bin cfg
	bin=$(lab_find_dpnat)
	[ -x "$bin" ] || { lab_log "dpnat binary not found or not executable: $bin (set DPNAT=)"; return 1; }
	bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
	cfg=$LAB_DIR/dpnat-$variant.toml
	lab_render_config "$variant" "$cfg" || return 1
	printf '%s\n' "$variant" >"$LAB_DIR/variant"
	printf '\n==== dpnat %s start %s\n' "$variant" "$(date -Is)" >>"$LAB_DIR/dpnat.log"
	lab_bg rtr dpnat "$bin" run --config "$cfg"
	LAB_ROUTER_PID=$LAB_LAST_PID
	printf '%s\n' "$LAB_ROUTER_PID" >"$LAB_DIR/router.pid"
	if ! lab_attach_nat_taps "$LAB_ROUTER_PID" || ! lab_wait_ping lan1c "$LAB_LAN1_GW" "$LAB_ROUTER_PID"; then
		lab_dpnat_said
		return 1
	fi
}

# After a failed start: dpnat's log tail, then its last line as the lab's
# last word (callers show that one line as the reason).
lab_dpnat_said() {
	echo "---- dpnat.log (tail)" >&2
	tail -n 20 "$LAB_DIR/dpnat.log" >&2 || true
	lab_log "dpnat said: $(grep -v '^\s*$' "$LAB_DIR/dpnat.log" | tail -n 1)"
}

# lab_wait_ping <short> <addr> [pid]: bounded wait until addr answers ping.
lab_wait_ping() {
	local deadline=$((SECONDS + LAB_READY_TIMEOUT))
	until lab_x "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; do
		if [ -n "${3:-}" ] && ! lab_pid_alive "$3"; then
			lab_log "router exited while waiting for $2 to answer"
			return 1
		fi
		[ "$SECONDS" -lt "$deadline" ] || {
			lab_log "timeout (${LAB_READY_TIMEOUT}s): $2 does not answer ping from $1"
			return 1
		}
	done
}

# lab_kill <pid>: SIGINT (dpnat's clean stop), then TERM, then KILL; bounded.
lab_kill() {
	local pid=$1 sig _
	lab_pid_alive "$pid" || return 0
	for sig in INT TERM KILL; do
		kill "-$sig" "$pid" 2>/dev/null || return 0
		for _ in $(seq 1 50); do
			lab_pid_alive "$pid" || return 0
			sleep 0.1
		done
	done
}

lab_router_stop() {
	local pid i
	pid=$(cat "$LAB_DIR/router.pid" 2>/dev/null || true)
	[ -n "$pid" ] && lab_kill "$pid"
	rm -f "$LAB_DIR/router.pid"
	# The kernel reference router: deleting one veth end deletes the pair.
	for i in lan1 lan2 wan; do lab_x rtr ip link del "$i" 2>/dev/null || true; done
}

# lab_router_start_kernel <variant>: a reference router, Linux forwarding +
# nftables NAT with the same rules, in dpnat's place. It exists to prove the
# e2e scenarios themselves against a known-good NAT; its "taps" are veth ends
# created in rtr, so the attach path is exactly the one dpnat's taps take.
lab_router_start_kernel() {
	local variant=$1 hairpin_rule='' auto_rule='' i
	case $variant in
	rules) hairpin_rule='ip saddr 192.168.88.0/24 ip daddr 192.168.88.20 tcp dport 443 masquerade' ;;
	nohairpin) ;;
	auto) auto_rule='ct status dnat iifname { "lan1", "lan2" } oifname { "lan1", "lan2" } snat to 203.0.113.1' ;;
	*) lab_log "unknown config variant '$variant'"; return 1 ;;
	esac
	command -v nft >/dev/null || { lab_log "the kernel reference router needs nft (nftables)"; return 1; }
	printf '%s\n' "$variant" >"$LAB_DIR/variant"
	for i in "lan1 $TAP_LAN1 $LAB_MAC_LAN1 $LAB_LAN1_GW/24" "lan2 $TAP_LAN2 $LAB_MAC_LAN2 $LAB_LAN2_GW/24" \
		"wan $TAP_WAN $LAB_MAC_WAN $LAB_WAN_ADDR/24"; do
		# shellcheck disable=SC2086 # split the four words on purpose
		set -- $i
		lab_run ip -n "$(lab_ns rtr)" link add "$1" address "$3" type veth peer name "$2" || return 1
		{ lab_if_prep rtr "$1" && lab_if_prep rtr "$2"; } || return 1
		lab_run lab_x rtr ip addr add "$4" dev "$1" || return 1
	done
	lab_run lab_x rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
		net.ipv4.conf.lan1.send_redirects=0 net.ipv4.conf.lan2.send_redirects=0 || return 1
	lab_run lab_x rtr ip route replace default via "$LAB_INET" dev wan onlink || return 1
	lab_x rtr nft -f - <<EOF || { lab_log "nft ruleset failed"; return 1; }
flush ruleset
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat;
		ip daddr 203.0.113.1 tcp dport 443 dnat to 192.168.88.20
		ip daddr 203.0.113.1 udp dport 7 dnat to 192.168.88.20
		ip daddr 203.0.113.1 tcp dport 8443 dnat to 192.168.89.20
	}
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "wan" masquerade
		$hairpin_rule
		$auto_rule
	}
}
EOF
	lab_attach_nat_taps "" || return 1
	lab_wait_ping lan1c "$LAB_LAN1_GW"
}

lab_router_start() {
	# restart keeps the kind the lab was built with
	[ -n "${LAB_ROUTER:-}" ] || LAB_ROUTER=$(cat "$LAB_DIR/router-kind" 2>/dev/null || echo dpnat)
	printf '%s\n' "$LAB_ROUTER" >"$LAB_DIR/router-kind"
	case $LAB_ROUTER in
	dpnat) lab_router_start_dpnat "$1" ;;
	kernel) lab_router_start_kernel "$1" ;;
	*) lab_log "unknown LAB_ROUTER '${LAB_ROUTER:-}' (dpnat|kernel)"; return 1 ;;
	esac
}

# lab_up <variant>: build the NAT lab and start the router with that config.
lab_up() {
	lab_build_hosts || return 1
	lab_router_start "$1"
}

# lab_restart <variant>: new router config, same hosts (servers keep running).
lab_restart() {
	lab_router_stop
	lab_router_start "$1"
}

# lab_down <id>: remove everything of lab <id>: its processes (router first,
# for a clean DPDK exit), its namespaces, DPDK runtime files, state dir.
lab_down() {
	local id=$1 dir ns pid pids
	dir=$LAB_STATE_ROOT/$id
	case $id in *[!0-9a-f]* | "") lab_log "bad lab id '$id'"; return 1 ;; esac
	# Recorded pids are only trusted while they still belong to this lab (the
	# router: in its rtr namespace; a root-namespace helper such as the
	# metrics relay: its command line names the lab), never a reused pid.
	pid=$(cat "$dir/router.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && [ "$(ip netns identify "$pid" 2>/dev/null)" = "dpn-$id-rtr" ]; then
		lab_kill "$pid"
	fi
	if [ -r "$dir/pids" ]; then
		while read -r pid _; do
			if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q "dpn-$id-"; then
				lab_kill "$pid"
			fi
		done <"$dir/pids"
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^dpn-$id-" || true); do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
		for pid in $pids; do lab_kill "$pid"; done
		ip netns del "$ns" 2>/dev/null || lab_log "could not delete namespace $ns"
	done
	rm -rf "/var/run/dpdk/dpn$id"
	rm -f /dev/hugepages/"dpn$id"map_* 2>/dev/null || true
	if [ -n "${LAB_KEEP_LOGS:-}" ] && [ -d "$dir" ]; then
		{ mkdir -p "$LAB_KEEP_LOGS" && cp -a "$dir/." "$LAB_KEEP_LOGS/"; } 2>/dev/null || true
	fi
	rm -rf "$dir"
}
