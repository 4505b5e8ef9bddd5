#!/usr/bin/env bash
# dpnat demo: builds the release binary and runs the built-in default scenario.
# Until the namespace lab lands this is a pcap-in/pcap-out forwarding demo:
# dpnat runs on two net_pcap virtual devices (no NIC, no hugepages needed),
# forwards every packet of a generated capture from "wan" to "lan", and the
# script checks the output capture byte for byte and shows the metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/demo.sh: run as root (DPDK needs it): sudo bash scripts/demo.sh" >&2
  exit 1
fi
bash scripts/setup.sh
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

echo "== building dpnat (release)"
cargo build --release -p control
bin="${CARGO_TARGET_DIR:-target}/release/dpnat"

work=$(mktemp -d /tmp/dpnat-demo.XXXXXX)
echo "== working in $work"
N=1000
python3 - "$work" "$N" <<'PY'
import struct, sys
work, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def frame(i):
    payload = (b"dpnat demo packet %06d " % i) * (1 + i % 20)
    udp = struct.pack("!HHHH", 5000 + i % 1000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                     bytes([192, 168, 88, 10 + i % 200]), bytes([198, 51, 100, 1]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000001") + bytes.fromhex("02000000000a") + b"\x08\x00"
    return eth + ip + udp
def pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
pcap(work + "/wan-in.pcap", [frame(i) for i in range(n)])
pcap(work + "/lan-in.pcap", [])
PY
echo "== generated $N UDP packets into $work/wan-in.pcap"

lcores=0
[ "$(nproc)" -ge 2 ] && lcores=0-1
port=$((19000 + RANDOM % 1000))
cat >"$work/dpnat.toml" <<TOML
[eal]
lcores = "$lcores"
no_huge = true
memory_mb = 256
file_prefix = "dpnat-demo-$$"
extra_args = ["--no-telemetry"]

[[interface]]
name = "wan"
device = "net_pcap0,rx_pcap=$work/wan-in.pcap,tx_pcap=$work/wan-out.pcap"
addresses = ["203.0.113.1/24"]
lists = ["WAN"]

[[interface]]
name = "lan"
device = "net_pcap1,rx_pcap=$work/lan-in.pcap,tx_pcap=$work/lan-out.pcap"
addresses = ["192.168.88.1/24"]
lists = ["LAN"]

[metrics]
listen = "127.0.0.1:$port"
TOML
echo "== config ($work/dpnat.toml):"
sed 's/^/   /' "$work/dpnat.toml"
"$bin" check-config "$work/dpnat.toml"

count() { python3 - "$1" <<'PY'
import struct, sys
try: b = open(sys.argv[1], "rb").read()
except OSError: print(0); sys.exit()
off, n = 24, 0
while off + 16 <= len(b):
    l = struct.unpack("<I", b[off + 8:off + 12])[0]
    if off + 16 + l > len(b): break
    off += 16 + l; n += 1
print(n)
PY
}

echo "== running: $bin run --config $work/dpnat.toml"
"$bin" run --config "$work/dpnat.toml" >"$work/dpnat.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ "$(count "$work/lan-out.pcap")" -ge "$N" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
sleep 0.5
echo "== metrics (http://127.0.0.1:$port/metrics, non-zero samples):"
curl -s "http://127.0.0.1:$port/metrics" | grep -v '^#' | grep -v ' 0$' | sed 's/^/   /' || true
kill -TERM "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
echo "== dpnat output (exit status $rc):"
sed 's/^/   /' "$work/dpnat.log"

if command -v tcpdump >/dev/null; then
  echo "== first packets of $work/lan-out.pcap:"
  tcpdump -nr "$work/lan-out.pcap" -c 3 2>/dev/null | sed 's/^/   /' || true
fi
python3 - "$work" <<'PY'
import struct, sys
def pkts(p):
    b = open(p, "rb").read(); off, out = 24, []
    while off + 16 <= len(b):
        l = struct.unpack("<I", b[off + 8:off + 12])[0]; out.append(b[off + 16:off + 16 + l]); off += 16 + l
    return out
a, b = pkts(sys.argv[1] + "/wan-in.pcap"), pkts(sys.argv[1] + "/lan-out.pcap")
ok = a == b
print("== %d packets in on wan, %d out on lan: %s" % (len(a), len(b),
      "identical, byte for byte" if ok else "MISMATCH"))
sys.exit(0 if ok else 1)
PY
[ "$rc" = 0 ] && echo "== demo OK (files kept in $work)"
exit "$rc"
