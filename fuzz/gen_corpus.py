#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/ (deterministic; rerun after
changing it and commit the files). Packets are well-formed with correct
checksums so the fuzzer starts from inputs that reach deep paths."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def ip(a):
    return bytes(int(x) for x in a.split("."))

def ipv4(src, dst, proto, l4, ident=1, frag=0, ttl=64, opts=b""):
    ihl = (20 + len(opts)) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(l4), ident, frag, ttl, proto, 0, ip(src), ip(dst)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4

def l4sum(src, dst, proto, seg):
    ph = ip(src) + ip(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(ph + seg)

def udp(src, sp, dst, dp, payload=b"hello", **kw):
    seg = struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload
    c = l4sum(src, dst, 17, seg) or 0xFFFF
    seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return ipv4(src, dst, 17, seg, **kw)

def tcp(src, sp, dst, dp, flags, payload=b"", opts=b"", **kw):
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sp, dp, 1000, 0, off << 4, flags, 65535, 0, 0) + opts + payload
    c = l4sum(src, dst, 6, seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ipv4(src, dst, 6, seg, **kw)

def icmp(src, dst, typ, code, rest, data):
    m = struct.pack("!BBHI", typ, code, 0, rest) + data
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ipv4(src, dst, 1, m)

def eth(payload, ethertype=0x0800, vlan=None):
    h = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 9])
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", ethertype) + payload

def arp_req(sender, target):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes([2, 0, 0, 0, 0, 9]), ip(sender), bytes(6), ip(target))

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
CLIENT, SERVER, PUBLIC, OUTSIDE, SERVER2 = "192.168.88.10", "192.168.88.20", "203.0.113.1", "198.51.100.7", "192.168.89.20"
MSS = bytes([2, 4, 0x05, 0xb4, 1, 1, 4, 2])

def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# wire_parse: frames and bare packets
out_udp = udp(CLIENT, 40000, OUTSIDE, 53, b"query")
write("wire_parse", "eth_ipv4_udp", eth(out_udp))
write("wire_parse", "eth_ipv4_tcp_syn_mss", eth(tcp(CLIENT, 40001, OUTSIDE, 443, SYN, opts=MSS)))
write("wire_parse", "eth_arp_request", eth(arp_req("192.168.88.10", "192.168.88.1"), 0x0806))
write("wire_parse", "eth_vlan_icmp_echo", eth(icmp(CLIENT, OUTSIDE, 8, 0, (7 << 16) | 1, b"ping"), vlan=100))
write("wire_parse", "eth_icmp_error_quoting_udp", eth(icmp(OUTSIDE, PUBLIC, 3, 3, 0, udp(PUBLIC, 40000, OUTSIDE, 53, b"query"))))
write("wire_parse", "ipv4_udp_bare", out_udp)
write("wire_parse", "ipv4_with_options", udp(CLIENT, 1, OUTSIDE, 2, opts=bytes([1, 1, 1, 0])))
write("wire_parse", "ipv4_first_fragment", udp(CLIENT, 40002, OUTSIDE, 9, b"A" * 16, frag=0x2000))
write("wire_parse", "ipv4_later_fragment", ipv4(CLIENT, OUTSIDE, 17, b"B" * 16, frag=0x0002))
write("wire_parse", "truncated_tcp", eth(tcp(CLIENT, 1, OUTSIDE, 2, ACK))[:40])
write("wire_parse", "udp_zero_checksum", eth(ipv4(CLIENT, OUTSIDE, 17, struct.pack("!HHHH", 5, 6, 10, 0) + b"hi")))

# engine_process: [mode] then records [in_if][step x100ms][len][packet]
def rec(in_if, step, pkt):
    assert len(pkt) < 256
    return bytes([in_if, step, len(pkt)]) + pkt

LAN, WAN, LAN2 = 0, 1, 2
story = [
    rec(LAN, 0, tcp(CLIENT, 40000, PUBLIC, 443, SYN)),              # hairpin via the public address
    rec(LAN, 0, tcp(SERVER, 443, PUBLIC, 40000, SYN | ACK)),
    rec(WAN, 1, tcp(OUTSIDE, 5555, PUBLIC, 443, SYN, opts=MSS)),    # port forward from outside
    rec(LAN, 0, tcp(SERVER, 443, OUTSIDE, 5555, SYN | ACK)),
    rec(LAN, 1, udp(CLIENT, 40000, OUTSIDE, 53)),                   # masquerade
    rec(WAN, 1, udp(OUTSIDE, 53, PUBLIC, 40000, b"answer")),
    rec(LAN, 1, icmp(CLIENT, OUTSIDE, 8, 0, (7 << 16) | 1, b"ping")),
    rec(WAN, 1, icmp(OUTSIDE, PUBLIC, 0, 0, (7 << 16) | 1, b"ping")),
    rec(WAN, 1, icmp(OUTSIDE, PUBLIC, 3, 3, 0, udp(PUBLIC, 40000, OUTSIDE, 53))),
    rec(LAN, 1, icmp(CLIENT, "192.168.88.1", 8, 0, (9 << 16) | 1, b"local")),
    rec(WAN, 1, udp(OUTSIDE, 9, PUBLIC, 5003, b"to lan2")),
]
write("engine_process", "seed_story_auto", bytes([0]) + b"".join(story))
write("engine_process", "seed_story_rules", bytes([1]) + b"".join(story))
frags = [
    rec(LAN, 0, ipv4(CLIENT, OUTSIDE, 17, b"C" * 16, ident=77, frag=0x0002)),  # later fragment first
    rec(LAN, 0, udp(CLIENT, 40010, OUTSIDE, 53, b"D" * 8, ident=77, frag=0x2000)),
    rec(WAN, 30, udp(OUTSIDE, 53, PUBLIC, 40010)),
]
write("engine_process", "fragments_out_of_order", bytes([0]) + b"".join(frags))
tcp_life = [
    rec(LAN, 0, tcp(CLIENT, 41000, OUTSIDE, 80, SYN)),
    rec(WAN, 0, tcp(OUTSIDE, 80, PUBLIC, 41000, SYN | ACK)),
    rec(LAN, 0, tcp(CLIENT, 41000, OUTSIDE, 80, ACK)),
    rec(LAN, 0, tcp(CLIENT, 41000, OUTSIDE, 80, FIN | ACK)),
    rec(WAN, 0, tcp(OUTSIDE, 80, PUBLIC, 41000, FIN | ACK)),
    rec(LAN, 255, tcp(CLIENT, 41000, OUTSIDE, 80, RST)),
    rec(LAN, 0, tcp(CLIENT, 41001, OUTSIDE, 80, ACK)),                 # non-SYN opener
]
write("engine_process", "tcp_lifecycle", bytes([0]) + b"".join(tcp_life))
write("engine_process", "malformed_headers", bytes([0]) + rec(LAN, 0, b"\x45\x00\x00\x10" + bytes(16)) + rec(WAN, 0, b"\x4f" + bytes(30)) + rec(LAN2, 0, bytes(3)))

# rules_parse
rules = [
    "chain=dstnat in-interface-list=LAN protocol=tcp dst-address=203.0.113.1 dst-port=443 action=dst-nat to-addresses=192.168.88.20",
    "chain=srcnat src-address=192.168.88.0/24 dst-address=192.168.88.20 protocol=tcp dst-port=443 action=masquerade",
    "chain=srcnat out-interface-list=WAN action=masquerade",
]
write("rules_parse", "seed_story", "\n".join(rules).encode())
write("rules_parse", "srcnat_pool_ports", b"chain=srcnat out-interface=wan action=src-nat to-addresses=203.0.113.8/30 to-ports=1024-65535\n")
write("rules_parse", "dstnat_range_and_netmap", b"chain=dstnat action=dst-nat to-addresses=10.0.0.1-10.0.0.3 protocol=udp dst-port=5000-5010 to-ports=53\nchain=dstnat dst-address=203.0.113.0/24 action=netmap to-addresses=10.0.0.0/24\n")
write("rules_parse", "negation_lists_redirect", b"chain=dstnat in-interface-list=!WAN protocol=tcp dst-port=80 action=redirect to-ports=3128 comment=\"proxy it\"\nchain=srcnat src-address-list=clients disabled=yes action=accept\n")
write("rules_parse", "errors", b"chain=bogus action=masquerade\nchain=srcnat action=dst-nat\nchain=srcnat to-addresses=1.2.3.4.5 action=src-nat\n\"unterminated\n")
