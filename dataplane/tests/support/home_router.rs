//! The two-interface home router the route tests share: LAN 192.168.88.1/24
//! (index 0, MAC 02:00:00:00:00:01), WAN 203.0.113.2/29 (index 1, MAC
//! 02:00:00:00:00:02), default route via 203.0.113.1 and 10.0.0.0/8 via
//! 192.168.88.254.

use dataplane::route::{Fib, Interfaces, Ipv4Cidr, MacAddr, StaticRoute};
use std::net::Ipv4Addr;

pub const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const WAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn c(s: &str) -> Ipv4Cidr {
    s.parse().unwrap()
}

pub fn home_router() -> (Interfaces, Fib) {
    let mut b = Interfaces::builder();
    b.add("lan", LAN_MAC, &[c("192.168.88.1/24")], 1500, &["LAN"])
        .unwrap();
    b.add("wan", WAN_MAC, &[c("203.0.113.2/29")], 1500, &["WAN"])
        .unwrap();
    let ifs = b.build().unwrap();
    let route = |dst: &str, gw: [u8; 4]| StaticRoute {
        dst: c(dst),
        gateway: Some(Ipv4Addr::from(gw)),
        interface: None,
    };
    let fib = Fib::build(
        &ifs,
        &[
            route("0.0.0.0/0", [203, 0, 113, 1]),
            route("10.0.0.0/8", [192, 168, 88, 254]),
        ],
    )
    .unwrap();
    (ifs, fib)
}
