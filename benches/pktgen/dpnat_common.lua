-- Shared settings and helpers for the dpnat Pktgen-DPDK scripts.
-- Port 0 = cable to dpnat's LAN port, port 1 = cable to dpnat's WAN port.
-- Edit the MACs and the addresses to match your dpnat config (see README.md).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local M = {}

M.lan_port = "0"            -- traffic in2out enters dpnat here
M.wan_port = "1"            -- traffic out2in enters dpnat here
M.dpnat_lan_mac = "02:00:00:00:00:01"
M.dpnat_wan_mac = "02:00:00:00:00:02"
M.pkt_size = 64             -- Pktgen counts the 4-byte FCS in "size"

-- Subscribers: 10.0.0.1 .. 10.0.3.232 (1000 hosts), ports 1024 .. 1087 (64 each)
M.sub_ip_min, M.sub_ip_max = "10.0.0.1", "10.0.3.232"
M.sub_port_min, M.sub_port_max = 1024, 1087
-- Remote servers in the RFC 2544 benchmarking range.
M.srv_ip_min, M.srv_ip_max = "198.18.0.1", "198.18.3.232"
M.srv_port = 443
-- dpnat's external pool (the to-addresses of its src-nat rule).
M.pool_ip_min, M.pool_ip_max = "100.64.0.1", "100.64.0.16"

-- Clears stats and configures `port` for one 64-byte UDP range stream.
-- `src`/`dst` = { ip_min, ip_max, port_min, port_max }.
function M.range(port, dst_mac, src, dst)
  pktgen.set_range(port, "on")
  pktgen.range.dst_mac(port, "start", dst_mac)
  pktgen.range.ip_proto(port, "udp")
  pktgen.range.pkt_size(port, "start", M.pkt_size)
  pktgen.range.pkt_size(port, "inc", 0)
  pktgen.range.pkt_size(port, "min", M.pkt_size)
  pktgen.range.pkt_size(port, "max", M.pkt_size)

  pktgen.range.src_ip(port, "start", src[1])
  pktgen.range.src_ip(port, "inc", "0.0.0.1")
  pktgen.range.src_ip(port, "min", src[1])
  pktgen.range.src_ip(port, "max", src[2])
  pktgen.range.src_port(port, "start", src[3])
  pktgen.range.src_port(port, "inc", src[3] == src[4] and 0 or 1)
  pktgen.range.src_port(port, "min", src[3])
  pktgen.range.src_port(port, "max", src[4])

  pktgen.range.dst_ip(port, "start", dst[1])
  pktgen.range.dst_ip(port, "inc", dst[1] == dst[2] and "0.0.0.0" or "0.0.0.1")
  pktgen.range.dst_ip(port, "min", dst[1])
  pktgen.range.dst_ip(port, "max", dst[2])
  pktgen.range.dst_port(port, "start", dst[3])
  pktgen.range.dst_port(port, "inc", dst[3] == dst[4] and 0 or 1)
  pktgen.range.dst_port(port, "min", dst[3])
  pktgen.range.dst_port(port, "max", dst[4])
end

-- in2out: subscribers -> servers, into dpnat's LAN port.
function M.in2out()
  M.range(M.lan_port, M.dpnat_lan_mac,
    { M.sub_ip_min, M.sub_ip_max, M.sub_port_min, M.sub_port_max },
    { M.srv_ip_min, M.srv_ip_max, M.srv_port, M.srv_port })
end

-- out2in: servers -> the pool, into dpnat's WAN port. Hits the mappings the
-- in2out stream opened when dpnat preserved the subscribers' ports (N3;
-- true while the pool has free ports) and filtering is endpoint-independent;
-- any packet that misses is counted by dpnat as a NoMapping drop.
function M.out2in()
  M.range(M.wan_port, M.dpnat_wan_mac,
    { M.srv_ip_min, M.srv_ip_max, M.srv_port, M.srv_port },
    { M.pool_ip_min, M.pool_ip_max, M.sub_port_min, M.sub_port_max })
end

-- One trial: send on `ports` (a list) at `rate` percent of line rate for
-- `ms` milliseconds; returns packets sent and received on the opposite ports.
function M.trial(ports, rate, ms)
  pktgen.clr()
  pktgen.delay(200)
  local tx0, rx0 = 0, 0
  for _, p in ipairs(ports) do
    pktgen.set(p, "rate", rate)
    pktgen.set(p, "count", 0)
  end
  for _, p in ipairs(ports) do pktgen.start(p) end
  pktgen.delay(ms)
  for _, p in ipairs(ports) do pktgen.stop(p) end
  pktgen.delay(500)                 -- let the DUT drain
  local tx, rx = 0, 0
  for _, p in ipairs(ports) do
    local peer = (p == M.lan_port) and M.wan_port or M.lan_port
    tx = tx + pktgen.portStats(p, "port")[tonumber(p)].opackets - tx0
    rx = rx + pktgen.portStats(peer, "port")[tonumber(peer)].ipackets - rx0
  end
  return tx, rx
end

-- RFC 2544 binary search: highest rate (percent) with loss <= `max_loss`
-- (a fraction). Returns rate, tx, rx of the best passing trial.
function M.search(ports, ms, steps, max_loss)
  local lo, hi, best = 0.0, 100.0, nil
  local rate = 100.0
  for i = 1, steps do
    local tx, rx = M.trial(ports, rate, ms)
    local loss = (tx > 0) and (tx - rx) / tx or 1.0
    printf("  trial %2d: rate %6.2f%%  tx %12d  rx %12d  loss %.5f%%\n", i, rate, tx, rx, loss * 100)
    if tx > 0 and loss <= max_loss then
      best = { rate = rate, tx = tx, rx = rx }
      lo = rate
      if rate >= 100.0 then break end
    else
      hi = rate
    end
    rate = (lo + hi) / 2
  end
  return best
end

return M
