//! Compiles a validated [`Config`] into the dataplane [`Snapshot`]:
//! `[[interface]]` -> `Interfaces`, connected + `[[route]]` -> `Fib`,
//! `[nat]` rules (against the interface names, lists and address lists) ->
//! `CompiledRules`, plus the `NatConfig`. Every error names the line of the
//! config item it comes from (`FILE:LINE: reason`), including per-rule
//! errors, which point at the rule's own string in the `rules` array.
//!
//! The same function serves `check-config` (placeholder MACs), start-up and
//! every reload (the ports' MACs), so what was checked is what runs.

use crate::config::{Config, ConfigError};
use dataplane::nat::rules::{compile, CompileContext, RuleSpec};
use dataplane::nat::{NatConfig, Snapshot};
use dataplane::pipeline::{Exception, PipelineConfig};
use dataplane::route::fib::FibError;
use dataplane::route::interfaces::InterfaceError;
use dataplane::route::{Fib, Interfaces, Ipv4Cidr, MacAddr, StaticRoute};

/// Locally administered stand-ins used when validating without DPDK.
pub fn placeholder_macs(n: usize) -> Vec<MacAddr> {
    (0..n)
        .map(|i| MacAddr([0x02, 0, 0, 0, (i >> 8) as u8, i as u8 + 1]))
        .collect()
}

/// The MAC each interface runs with: the configured one, else the port's.
pub fn effective_macs(cfg: &Config, port_macs: &[MacAddr]) -> Vec<MacAddr> {
    cfg.interfaces
        .iter()
        .zip(port_macs)
        .map(|(i, p)| i.mac.map_or(*p, MacAddr))
        .collect()
}

fn cidr(c: &crate::config::Ipv4Cidr) -> Ipv4Cidr {
    Ipv4Cidr {
        addr: c.addr,
        prefix_len: c.prefix_len,
    }
}

/// Builds the snapshot; `macs[i]` is interface `i`'s MAC.
pub fn build(cfg: &Config, macs: &[MacAddr]) -> Result<Snapshot, ConfigError> {
    let mut b = Interfaces::builder();
    for (ic, mac) in cfg.interfaces.iter().zip(macs) {
        let addrs: Vec<Ipv4Cidr> = ic.addresses.iter().map(cidr).collect();
        let lists: Vec<&str> = ic.lists.iter().map(String::as_str).collect();
        b.add(&ic.name, *mac, &addrs, ic.mtu, &lists)
            .map_err(|e| cfg.error_at(ic.line, e.to_string()))?;
    }
    if macs.len() < cfg.interfaces.len() {
        return Err(cfg.error_at(1, "internal: fewer MACs than interfaces"));
    }
    let ifs = b.build().map_err(|e| {
        let line = match &e {
            InterfaceError::DuplicateAddress(a) => cfg
                .interfaces
                .iter()
                .rev()
                .find(|i| i.addresses.iter().any(|c| c.addr == *a))
                .map_or(1, |i| i.line),
            _ => 1,
        };
        cfg.error_at(line, e.to_string())
    })?;

    let mut statics = Vec::with_capacity(cfg.routes.len());
    for r in &cfg.routes {
        let interface = match &r.interface {
            Some(n) => Some(
                ifs.by_name(n)
                    .map(|i| i.index)
                    .ok_or_else(|| cfg.error_at(r.line, format!("unknown interface {n:?}")))?,
            ),
            None => None,
        };
        statics.push(StaticRoute {
            dst: cidr(&r.dst),
            gateway: r.gateway,
            interface,
        });
    }
    let fib = Fib::build(&ifs, &statics).map_err(|e| {
        let dst = match e {
            FibError::HostBitsSet(d)
            | FibError::NoNextHop(d)
            | FibError::DuplicateRoute(d)
            | FibError::UnknownInterface { dst: d, .. }
            | FibError::GatewayUnreachable { dst: d, .. }
            | FibError::GatewayIsLocal { dst: d, .. } => Some(d),
            FibError::TooLarge => None,
        };
        let line = dst
            .and_then(|d| {
                cfg.routes
                    .iter()
                    .rev()
                    .find(|r| cidr(&r.dst).trunc() == d.trunc())
            })
            .map_or(1, |r| r.line);
        cfg.error_at(line, e.to_string())
    })?;

    let mut ctx = CompileContext::new();
    for i in ifs.iter() {
        ctx.add_interface(&i.name, i.index, i.lists);
    }
    for name in ifs.lists().names() {
        if let Some(m) = ifs.list_mask(name) {
            ctx.add_interface_list(name, m);
        }
    }
    let (nat, specs, lines, nat_line): (NatConfig, Vec<RuleSpec>, Vec<usize>, usize) =
        match &cfg.nat {
            Some(n) => {
                for (name, entries) in &n.address_lists {
                    ctx.add_address_list(name, entries.iter().copied());
                }
                (
                    n.config.clone(),
                    n.rules.iter().map(|r| r.spec.clone()).collect(),
                    n.rules.iter().map(|r| r.line).collect(),
                    n.line,
                )
            }
            None => (NatConfig::default(), Vec::new(), Vec::new(), 1),
        };
    let rules = compile(&specs, &ctx).map_err(|e| {
        let line = lines.get(e.rule).copied().unwrap_or(nat_line);
        cfg.error_at(line, format!("rule {}: {}", e.rule, e.reason))
    })?;
    Snapshot::new(rules, ifs, fib, nat).map_err(|e| cfg.error_at(nat_line, format!("[nat]: {e}")))
}

/// The per-worker pipeline settings the config implies; `exception_mac` is
/// the exception port's MAC when `[exception]` is configured (its port is
/// the one after the interfaces). With `net_tap` the kernel interface has
/// that very MAC, so the dataplane answers there with a neighbour of it
/// (last octet flipped, locally administered).
pub fn pipeline_config(cfg: &Config, exception_mac: Option<MacAddr>) -> PipelineConfig {
    let pass_non_ip = cfg
        .interfaces
        .iter()
        .map(|i| {
            i.pass_non_ip_to
                .as_ref()
                .and_then(|to| cfg.interfaces.iter().position(|o| &o.name == to))
                .and_then(|p| u16::try_from(p).ok())
        })
        .collect();
    let exception = match (&cfg.exception, exception_mac) {
        (Some(_), Some(mac)) => u16::try_from(cfg.interfaces.len()).ok().map(|port| {
            let mut ours = mac.0;
            ours[0] |= 0x02;
            ours[5] ^= 0x01;
            Exception {
                port,
                mac: MacAddr(ours),
                peer: mac,
            }
        }),
        _ => None,
    };
    PipelineConfig {
        pass_non_ip,
        exception,
        ..PipelineConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = r#"
[eal]
lcores = "0-1"

[[interface]]
name = "lan1"
device = "net_tap0,iface=l1"
addresses = ["192.168.88.1/24"]
lists = ["LAN"]

[[interface]]
name = "lan2"
device = "net_tap1,iface=l2"
addresses = ["192.168.89.1/24"]
lists = ["LAN"]
pass_non_ip_to = "lan1"

[[interface]]
name = "wan"
device = "net_tap2,iface=w"
mac = "02:00:00:00:00:33"
addresses = ["203.0.113.1/24"]
lists = ["WAN"]

[[route]]
dst = "0.0.0.0/0"
gateway = "203.0.113.254"

[nat]
hairpin = "rules"
filtering = "address-dependent"
port_range = "20000-30000"
table_capacity = 4096
timeouts = { udp = 600, tcp_established = 7500 }
rules = [
  "chain=srcnat out-interface-list=WAN action=masquerade",
  "chain=dstnat dst-address=203.0.113.1 protocol=tcp dst-port=443 action=dst-nat to-addresses=192.168.88.20",
  "chain=srcnat src-address-list=inside dst-address=192.168.88.20 protocol=tcp dst-port=443 action=masquerade",
]

[nat.address_lists]
inside = ["192.168.88.0/24", "192.168.89.10-192.168.89.20"]
"#;

    fn err(src: &str) -> String {
        crate::config::Config::parse(src, "lab.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_lab_config_compiles_into_a_snapshot() {
        let c = Config::parse(LAB, "lab.toml").unwrap();
        let ports = placeholder_macs(3);
        let macs = effective_macs(&c, &ports);
        assert_eq!(
            macs[2],
            MacAddr([2, 0, 0, 0, 0, 0x33]),
            "configured MAC wins"
        );
        assert_eq!(macs[0], ports[0], "else the port's MAC");
        let s = build(&c, &macs).unwrap();
        assert_eq!(s.interfaces.len(), 3);
        assert_eq!(s.rules.len(), 3);
        assert_eq!(s.nat.port_range, (20000, 30000));
        assert_eq!(s.nat.table_capacity, 4096);
        assert_eq!(s.nat.timeouts.udp, 600);
        assert_eq!(s.nat.hairpin, dataplane::nat::HairpinMode::Rules);
        assert_eq!(s.fib.lookup("8.8.8.8".parse().unwrap()).unwrap().ifindex, 2);
        let p = pipeline_config(&c, None);
        assert_eq!(p.pass_non_ip, vec![None, Some(0), None]);
        assert_eq!(p.exception, None);
        let with_ex = Config::parse(
            &format!("{LAB}\n[exception]\ndevice = \"net_tap9,iface=host\"\n"),
            "lab.toml",
        )
        .unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        assert_eq!(
            pipeline_config(&with_ex, Some(mac)).exception,
            Some(Exception {
                port: 3,
                mac: MacAddr([2, 0, 0, 0, 0, 8]),
                peer: mac
            })
        );
        let args = crate::eal_args::build(&with_ex);
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--vdev" && w[1] == "net_tap9,iface=host"),
            "{args:?}"
        );
        let e = err(&format!(
            "{LAB}\n[exception]\ndevice = \"net_tap0,iface=x\"\n"
        ));
        assert!(e.contains("already used by interface \"lan1\""), "{e}");
    }

    #[test]
    fn rule_errors_name_the_rule_line() {
        let bad = LAB.replace(
            "action=dst-nat to-addresses=192.168.88.20\"",
            "action=dst-nat to-adresses=192.168.88.20\"",
        );
        let e = err(&bad);
        assert!(e.starts_with("lab.toml:37: rule 1"), "{e}");
        let unknown_list = LAB.replace("out-interface-list=WAN", "out-interface-list=INTERNET");
        let e = err(&unknown_list);
        assert!(e.starts_with("lab.toml:36: rule 0: "), "{e}");
        let unknown_addr_list = LAB.replace("inside = [", "outside = [");
        let e = err(&unknown_addr_list);
        assert!(e.starts_with("lab.toml:38: rule 2: "), "{e}");
    }

    #[test]
    fn nat_value_and_route_errors_name_their_line() {
        let e = err(&LAB.replace("\"20000-30000\"", "\"30000-20000\""));
        assert!(e.starts_with("lab.toml:32: bad port_range"), "{e}");
        let e = err(&LAB.replace("udp = 600", "udp = 60"));
        assert!(e.starts_with("lab.toml:34: timeouts.udp 60 s"), "{e}");
        let e = err(&LAB.replace("hairpin = \"rules\"", "hairpin = \"sometimes\""));
        assert!(e.starts_with("lab.toml:30: unknown hairpin mode"), "{e}");
        let e = err(&LAB.replace("203.0.113.254", "10.9.9.9"));
        assert!(
            e.starts_with("lab.toml:25: route 0.0.0.0/0: gateway 10.9.9.9"),
            "{e}"
        );
        let e = err(&LAB.replace(
            "\"lan1\"\n\n[[interface]]\nname = \"wan\"",
            "\"nope\"\n\n[[interface]]\nname = \"wan\"",
        ));
        assert!(e.contains("pass_non_ip_to names unknown interface"), "{e}");
        let e = err(&LAB.replace("192.168.89.10-192.168.89.20", "192.168.89.30-192.168.89.20"));
        assert!(e.starts_with("lab.toml:42: bad address"), "{e}");
    }

    #[test]
    fn a_config_without_nat_routes_only() {
        let c = Config::parse(
            "[[interface]]\nname=\"a\"\ndevice=\"net_null0\"\naddresses=[\"10.0.0.1/24\"]\n[[interface]]\nname=\"b\"\ndevice=\"net_null1\"\naddresses=[\"10.0.1.1/24\"]\n",
            "t",
        )
        .unwrap();
        let s = build(&c, &placeholder_macs(2)).unwrap();
        assert!(s.rules.is_empty());
    }
}
