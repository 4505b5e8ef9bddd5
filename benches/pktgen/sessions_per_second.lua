-- New sessions per second, as VPP's NAT44 connections-per-second tests do:
-- 1. open a base population of established sessions slowly (well below any
--    drop), so the table is realistically full;
-- 2. measure at full rate with traffic where every packet is a new flow:
--    source IP and port both advance per packet over a space larger than
--    the packets of one trial, so no tuple repeats; the highest loss-free
--    rate is the session setup rate.
-- dpnat needs a table (nat.table_capacity) and pool large enough for both
-- phases; shorten UDP timeouts only if you also run the teardown test.
local C = dofile("benches/pktgen/dpnat_common.lua")
local BASE_RATE, BASE_MS = 1, 20000       -- phase 1: 1% for 20 s
local TRIAL_MS, STEPS, MAX_LOSS = 2000, 8, 0.0   -- STEPS <= 14 (address blocks)

-- Phase 1: base population (1000 hosts x 64 ports = 64000 sessions).
C.in2out()
local tx, rx = C.trial({ C.lan_port }, BASE_RATE, BASE_MS)
printf("sessions_per_second: base population opened: tx %d rx %d\n", tx, rx)

-- Phase 2: every packet a new flow. Trial i uses its own block of hosts
-- (10.(64+4i).0.1 .. 10.(67+4i).255.254, 262142 hosts) with source ports
-- 1024-65535; IP and port advance together, so pairs repeat only after
-- lcm(262142, 64512) ~ 8.4e9 packets: no tuple repeats within or across trials.
local function fresh(i)
  local a, b = 64 + 4 * i, 67 + 4 * i
  C.range(C.lan_port, C.dpnat_lan_mac,
    { "10." .. a .. ".0.1", "10." .. b .. ".255.254", 1024, 65535 },
    { C.srv_ip_min, C.srv_ip_min, C.srv_port, C.srv_port })
end
local lo, hi, rate, best = 0.0, 100.0, 100.0, nil
for i = 1, STEPS do
  fresh(i)
  local t, r = C.trial({ C.lan_port }, rate, TRIAL_MS)
  local loss = (t > 0) and (t - r) / t or 1.0
  printf("  trial %d: rate %6.2f%%  new flows sent %d, forwarded %d, loss %.5f%%\n", i, rate, t, r, loss * 100)
  if t > 0 and loss <= MAX_LOSS then
    best, lo = { rate = rate, rx = r }, rate
    if rate >= 100.0 then break end
  else
    hi = rate
  end
  rate = (lo + hi) / 2
end
if best then
  printf("sessions_per_second: %.3f M new sessions/s (rate %.2f%%)\n",
    best.rx / (TRIAL_MS / 1000) / 1e6, best.rate)
else
  printf("sessions_per_second: no loss-free rate found\n")
end
