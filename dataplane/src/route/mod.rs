//! Interfaces, longest-prefix-match routing and the neighbour (ARP) table.
