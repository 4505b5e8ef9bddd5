-- RFC 2544 throughput: binary search for the highest zero-loss rate
-- (MAX_LOSS = 0; CSIT's PDR uses 0.005) with 64-byte UDP over many flows,
-- in2out, out2in and both directions.
local C = dofile("benches/pktgen/dpnat_common.lua")
local TRIAL_MS, STEPS, MAX_LOSS = 10000, 10, 0.0

C.in2out()
C.trial({ C.lan_port }, 1, 5000)    -- open the sessions before measuring
C.out2in()
for _, case in ipairs({
  { "in2out", { C.lan_port } },
  { "out2in", { C.wan_port } },
  { "bidir", { C.lan_port, C.wan_port } },
}) do
  printf("rfc2544 %s:\n", case[1])
  local b = C.search(case[2], TRIAL_MS, STEPS, MAX_LOSS)
  if b then
    printf("rfc2544 %s: %.2f%% of line rate, %.3f Mpps forwarded, loss %d packets\n",
      case[1], b.rate, b.rx / (TRIAL_MS / 1000) / 1e6, b.tx - b.rx)
  else
    printf("rfc2544 %s: no passing rate\n", case[1])
  end
end
