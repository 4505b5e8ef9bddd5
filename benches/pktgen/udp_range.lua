-- 64-byte UDP in range mode over many subscribers and ports, both
-- directions at once (in2out on port 0, out2in on port 1), at a fixed rate.
-- Usage: pktgen ... -f benches/pktgen/udp_range.lua   (edit RATE / SECONDS)
local C = dofile("benches/pktgen/dpnat_common.lua")
local RATE, SECONDS = 100, 30

C.in2out()
-- Open the mappings first (out2in needs them), at a gentle rate.
C.trial({ C.lan_port }, 1, 5000)
C.out2in()
local tx, rx = C.trial({ C.lan_port, C.wan_port }, RATE, SECONDS * 1000)
printf("udp_range: both directions at %d%%: tx %d rx %d (%.3f Mpps forwarded)\n",
  RATE, tx, rx, rx / SECONDS / 1e6)
