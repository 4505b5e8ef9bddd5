//! The dpnat TOML config: parsing, validation, and `FILE:LINE: reason` errors.
//!
//! Unknown keys are errors. Every value that can be wrong keeps its source
//! span, so each error names the line it came from. The `[nat]` table
//! (filtering, hairpin, RouterOS rule strings, address lists, limits,
//! timeouts) is parsed here too; [`crate::snapshot`] compiles everything into
//! the dataplane `Snapshot` and [`Config::parse`] runs that compilation once
//! (with placeholder MACs) so `check-config` validates all of it.

use dataplane::nat::rules::{parse_rule, AddressSpec, RuleSpec};
use dataplane::nat::{Filtering, HairpinMode, NatConfig};
use serde::Deserialize;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Interface MTU bounds (IPv4 minimum .. common jumbo maximum).
pub const MTU_RANGE: std::ops::RangeInclusive<i64> = 68..=9216;
/// Highest lcore id DPDK 22.11 accepts (RTE_MAX_LCORE - 1).
pub const MAX_LCORE: u32 = 127;

/// A config error with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// An IPv4 prefix, e.g. `192.168.88.1/24` (interface) or `10.0.0.0/8` (route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    pub fn parse(s: &str) -> Result<Ipv4Cidr, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("bad CIDR {s:?}: expected ADDRESS/LENGTH"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("bad CIDR {s:?}: {a:?} is not an IPv4 address"))?;
        let prefix_len: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("bad CIDR {s:?}: prefix length must be 0..=32"))?;
        Ok(Ipv4Cidr { addr, prefix_len })
    }

    pub fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    /// True when no host bits are set (a network prefix).
    pub fn is_network(&self) -> bool {
        u32::from(self.addr) & !self.mask() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// `[eal]`: how the DPDK EAL is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalConfig {
    /// The `-l` list as written (e.g. `0-1`).
    pub lcores_spec: String,
    /// The lcore ids it expands to, ascending; the first is the main lcore.
    pub lcores: Vec<u32>,
    pub no_huge: bool,
    pub memory_mb: u32,
    pub file_prefix: String,
    pub extra_args: Vec<String>,
}

/// `[[interface]]`: one DPDK port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub name: String,
    /// A vdev string (`net_tap0,iface=x`) or a PCI address (`0000:03:00.0`).
    pub device: String,
    pub mac: Option<[u8; 6]>,
    pub addresses: Vec<Ipv4Cidr>,
    pub mtu: u16,
    pub lists: Vec<String>,
    /// Frames that are neither IPv4 nor ARP leave unchanged through this
    /// interface instead of being dropped.
    pub pass_non_ip_to: Option<String>,
    /// Line of the `[[interface]]` header, for errors found later.
    pub line: usize,
}

impl InterfaceConfig {
    /// The ethdev name: the device string up to its first comma.
    pub fn device_name(&self) -> &str {
        device_name(&self.device)
    }

    /// True for a virtual device (`net_*`), false for a PCI address.
    pub fn is_vdev(&self) -> bool {
        self.device_name().starts_with("net_")
    }
}

/// `[[route]]`: a static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub dst: Ipv4Cidr,
    pub gateway: Option<Ipv4Addr>,
    pub interface: Option<String>,
    /// Line of the `[[route]]` header.
    pub line: usize,
}

/// One RouterOS-syntax rule of `[nat] rules`, parsed, with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleLine {
    pub text: String,
    pub spec: RuleSpec,
    pub line: usize,
}

/// `[nat]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NatSection {
    pub config: NatConfig,
    pub rules: Vec<RuleLine>,
    /// `[nat.address_lists]`: name -> entries (address, prefix or range).
    pub address_lists: Vec<(String, Vec<AddressSpec>)>,
    /// Line of the `[nat]` header.
    pub line: usize,
}

/// `[exception]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionConfig {
    pub device: String,
    pub line: usize,
}

impl ExceptionConfig {
    pub fn device_name(&self) -> &str {
        device_name(&self.device)
    }

    pub fn is_vdev(&self) -> bool {
        self.device_name().starts_with("net_")
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Where to serve Prometheus `/metrics`; `None` disables it.
    pub listen: Option<SocketAddr>,
}

/// A validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file name errors are reported against.
    pub file: String,
    pub eal: EalConfig,
    pub interfaces: Vec<InterfaceConfig>,
    pub routes: Vec<RouteConfig>,
    /// `[nat]`; without it the router routes and NATs nothing.
    pub nat: Option<NatSection>,
    /// `[exception]`: a device (normally `net_tap`) to the host kernel for
    /// traffic addressed to the router that the dataplane does not answer.
    pub exception: Option<ExceptionConfig>,
    pub metrics: MetricsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    eal: Option<Spanned<RawEal>>,
    #[serde(default, rename = "interface")]
    interfaces: Vec<Spanned<RawInterface>>,
    #[serde(default, rename = "route")]
    routes: Vec<Spanned<RawRoute>>,
    nat: Option<Spanned<RawNat>>,
    exception: Option<Spanned<RawException>>,
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    device: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNat {
    filtering: Option<Spanned<String>>,
    hairpin: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    /// Default external port range, `"1024-65535"`.
    port_range: Option<Spanned<String>>,
    table_capacity: Option<Spanned<i64>>,
    sessions_per_subscriber: Option<Spanned<i64>>,
    ports_per_subscriber: Option<Spanned<i64>>,
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    address_lists: std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    udp: Option<Spanned<i64>>,
    udp_inbound_refresh: Option<bool>,
    tcp_established: Option<Spanned<i64>>,
    tcp_transitory: Option<Spanned<i64>>,
    icmp: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEal {
    lcores: Option<Spanned<String>>,
    no_huge: Option<bool>,
    memory_mb: Option<Spanned<i64>>,
    file_prefix: Option<Spanned<String>>,
    #[serde(default)]
    extra_args: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    device: Spanned<String>,
    mac: Option<Spanned<String>>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    mtu: Option<Spanned<i64>>,
    #[serde(default)]
    lists: Vec<Spanned<String>>,
    pass_non_ip_to: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    dst: Spanned<String>,
    gateway: Option<Spanned<String>>,
    interface: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

fn device_name(device: &str) -> &str {
    device.split(',').next().unwrap_or("").trim()
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.src.len());
        1 + self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn err(&self, span: Range<usize>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.line(span),
            reason: reason.into(),
        }
    }

    fn at<T>(&self, v: &Spanned<T>, reason: impl Into<String>) -> ConfigError {
        self.err(v.span(), reason)
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Parses `0-3,5` style lcore lists.
pub fn parse_lcores(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| format!("bad lcore list {s:?}: {part:?} is not N or N-M"))?;
        let b: u32 = b
            .parse()
            .map_err(|_| format!("bad lcore list {s:?}: {part:?} is not N or N-M"))?;
        if a > b || b > MAX_LCORE {
            return Err(format!(
                "bad lcore list {s:?}: {part:?} must be ascending ids up to {MAX_LCORE}"
            ));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    let n = out.len();
    out.dedup();
    if out.len() != n {
        return Err(format!("bad lcore list {s:?}: an lcore is listed twice"));
    }
    Ok(out)
}

/// Parses `02:00:00:00:00:01`; rejects multicast and all-zero addresses.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("bad MAC address {s:?}: expected six hex octets like 02:00:00:00:00:01");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(format!(
            "bad MAC address {s:?}: multicast addresses cannot be an interface address"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("bad MAC address {s:?}: all-zero"));
    }
    Ok(mac)
}

/// `10.0.0.1`, `10.0.0.0/8` or `10.0.0.1-10.0.0.9`.
pub fn parse_address_spec(s: &str) -> Result<AddressSpec, String> {
    let bad = || format!("bad address {s:?}: expected A.B.C.D, A.B.C.D/N or A.B.C.D-E.F.G.H");
    if let Some((a, b)) = s.split_once('-') {
        let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let b: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
        if u32::from(a) > u32::from(b) {
            return Err(bad());
        }
        return Ok(AddressSpec::Range(a, b));
    }
    if s.contains('/') {
        let c = Ipv4Cidr::parse(s)?;
        if !c.is_network() {
            return Err(format!("bad address {s:?}: host bits set"));
        }
        return Ok(AddressSpec::Prefix(c.addr, c.prefix_len));
    }
    s.parse().map(AddressSpec::Addr).map_err(|_| bad())
}

fn is_pci_address(s: &str) -> bool {
    // DDDD:BB:DD.F or BB:DD.F
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let (rest, func) = match s.rsplit_once('.') {
        Some(x) => x,
        None => return false,
    };
    if !(func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7')) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [d, b, dev] => hex(d, 4) && hex(b, 2) && hex(dev, 2),
        [b, dev] => hex(b, 2) && hex(dev, 2),
        _ => false,
    }
}

impl Config {
    /// Reads and validates `path`. Errors are `FILE:LINE: reason`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 1,
            reason: format!("cannot read config: {e}"),
        })?;
        Config::parse(&src, &file)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
        let cx = Ctx { file, src };
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let line = e.span().map(|s| cx.line(s)).unwrap_or(1);
            let reason = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .trim()
                .to_string();
            ConfigError {
                file: file.to_string(),
                line,
                reason,
            }
        })?;

        let eal = Self::eal(&cx, raw.eal.as_ref())?;
        let mut interfaces: Vec<InterfaceConfig> = Vec::new();
        let mut seen_addrs: Vec<Ipv4Addr> = Vec::new();
        for si in &raw.interfaces {
            let i = si.get_ref();
            let name = i.name.get_ref().trim();
            if !is_ident(name) || name.len() > 15 {
                return Err(cx.at(
                    &i.name,
                    format!("bad interface name {name:?}: use 1..=15 of [A-Za-z0-9_.-]"),
                ));
            }
            if interfaces.iter().any(|o| o.name == name) {
                return Err(cx.at(&i.name, format!("duplicate interface name {name:?}")));
            }
            let device = i.device.get_ref().trim();
            let dev = device_name(device);
            if dev.is_empty() {
                return Err(cx.at(&i.device, "empty device"));
            }
            if !dev.starts_with("net_") && !is_pci_address(dev) {
                return Err(cx.at(
                    &i.device,
                    format!("bad device {device:?}: expected a vdev (net_...) or a PCI address like 0000:03:00.0"),
                ));
            }
            if device.contains('\0') || device.contains(char::is_whitespace) {
                return Err(cx.at(
                    &i.device,
                    format!("bad device {device:?}: no whitespace allowed"),
                ));
            }
            if let Some(o) = interfaces.iter().find(|o| o.device_name() == dev) {
                return Err(cx.at(
                    &i.device,
                    format!("device {dev:?} is already used by interface {:?}", o.name),
                ));
            }
            let mac = match &i.mac {
                Some(m) => Some(parse_mac(m.get_ref().trim()).map_err(|r| cx.at(m, r))?),
                None => None,
            };
            let mut addresses = Vec::new();
            for a in &i.addresses {
                let c = Ipv4Cidr::parse(a.get_ref().trim()).map_err(|r| cx.at(a, r))?;
                if c.prefix_len == 0 || c.prefix_len > 32 {
                    return Err(cx.at(
                        a,
                        format!("bad interface address {c}: prefix length must be 1..=32"),
                    ));
                }
                let ip = c.addr;
                if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback()
                {
                    return Err(cx.at(
                        a,
                        format!("bad interface address {c}: not a unicast address"),
                    ));
                }
                if seen_addrs.contains(&ip) {
                    return Err(cx.at(a, format!("address {ip} is configured twice")));
                }
                seen_addrs.push(ip);
                addresses.push(c);
            }
            let mtu = match &i.mtu {
                Some(m) => {
                    let v = *m.get_ref();
                    if !MTU_RANGE.contains(&v) {
                        return Err(cx.at(
                            m,
                            format!(
                                "mtu {v} out of range {}..={}",
                                MTU_RANGE.start(),
                                MTU_RANGE.end()
                            ),
                        ));
                    }
                    v as u16
                }
                None => 1500,
            };
            let mut lists = Vec::new();
            for l in &i.lists {
                let s = l.get_ref().trim();
                if !is_ident(s) {
                    return Err(cx.at(
                        l,
                        format!("bad interface list name {s:?}: use [A-Za-z0-9_.-]"),
                    ));
                }
                if !lists.iter().any(|x: &String| x == s) {
                    lists.push(s.to_string());
                }
            }
            interfaces.push(InterfaceConfig {
                name: name.to_string(),
                device: device.to_string(),
                mac,
                addresses,
                mtu,
                lists,
                pass_non_ip_to: i
                    .pass_non_ip_to
                    .as_ref()
                    .map(|p| p.get_ref().trim().to_string()),
                line: cx.line(si.span()),
            });
        }
        if interfaces.is_empty() {
            return Err(ConfigError {
                file: file.to_string(),
                line: 1,
                reason: "no [[interface]] defined".to_string(),
            });
        }

        let mut routes = Vec::new();
        for sr in &raw.routes {
            let r = sr.get_ref();
            let dst = Ipv4Cidr::parse(r.dst.get_ref().trim()).map_err(|e| cx.at(&r.dst, e))?;
            if !dst.is_network() {
                return Err(cx.at(&r.dst, format!("route destination {dst} has host bits set")));
            }
            let gateway = match &r.gateway {
                Some(g) => Some(g.get_ref().trim().parse::<Ipv4Addr>().map_err(|_| {
                    cx.at(
                        g,
                        format!("bad gateway {:?}: not an IPv4 address", g.get_ref()),
                    )
                })?),
                None => None,
            };
            let interface = match &r.interface {
                Some(n) => {
                    let n2 = n.get_ref().trim();
                    if !interfaces.iter().any(|i| i.name == n2) {
                        return Err(cx.at(n, format!("route names unknown interface {n2:?}")));
                    }
                    Some(n2.to_string())
                }
                None => None,
            };
            if gateway.is_none() && interface.is_none() {
                return Err(cx.err(
                    sr.span(),
                    format!("route to {dst} needs a gateway or an interface"),
                ));
            }
            routes.push(RouteConfig {
                dst,
                gateway,
                interface,
                line: cx.line(sr.span()),
            });
        }

        let metrics = match raw.metrics.as_ref().and_then(|m| m.listen.as_ref()) {
            Some(l) => MetricsConfig {
                listen: Some(l.get_ref().trim().parse().map_err(|_| {
                    cx.at(
                        l,
                        format!(
                            "bad metrics listen address {:?}: expected IP:PORT",
                            l.get_ref()
                        ),
                    )
                })?),
            },
            None => MetricsConfig::default(),
        };

        for (si, i) in raw.interfaces.iter().zip(&interfaces) {
            if let (Some(p), Some(to)) = (&si.get_ref().pass_non_ip_to, &i.pass_non_ip_to) {
                if !interfaces.iter().any(|o| &o.name == to) {
                    return Err(cx.at(p, format!("pass_non_ip_to names unknown interface {to:?}")));
                }
            }
        }

        let nat = match &raw.nat {
            Some(n) => Some(Self::nat(&cx, n)?),
            None => None,
        };

        let exception = match &raw.exception {
            Some(e) => {
                let d = &e.get_ref().device;
                let device = d.get_ref().trim();
                let dev = device_name(device);
                if !dev.starts_with("net_") && !is_pci_address(dev) {
                    return Err(cx.at(
                        d,
                        format!("bad exception device {device:?}: expected a vdev (net_tap...) or a PCI address"),
                    ));
                }
                if device.contains(char::is_whitespace) {
                    return Err(cx.at(d, format!("bad device {device:?}: no whitespace allowed")));
                }
                if let Some(o) = interfaces.iter().find(|o| o.device_name() == dev) {
                    return Err(cx.at(
                        d,
                        format!("device {dev:?} is already used by interface {:?}", o.name),
                    ));
                }
                Some(ExceptionConfig {
                    device: device.to_string(),
                    line: cx.line(e.span()),
                })
            }
            None => None,
        };

        let cfg = Config {
            file: file.to_string(),
            eal,
            interfaces,
            routes,
            nat,
            exception,
            metrics,
        };
        // Compile once with placeholder MACs: interfaces, routes and rules
        // are checked together, as `run` and a reload will build them.
        crate::snapshot::build(
            &cfg,
            &crate::snapshot::placeholder_macs(cfg.interfaces.len()),
        )?;
        Ok(cfg)
    }

    /// A `FILE:LINE: reason` error against this config's file.
    pub fn error_at(&self, line: usize, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line,
            reason: reason.into(),
        }
    }

    fn nat(cx: &Ctx<'_>, raw: &Spanned<RawNat>) -> Result<NatSection, ConfigError> {
        let r = raw.get_ref();
        let mut c = NatConfig::default();
        if let Some(f) = &r.filtering {
            c.filtering = f
                .get_ref()
                .trim()
                .parse::<Filtering>()
                .map_err(|e| cx.at(f, e.to_string()))?;
        }
        if let Some(h) = &r.hairpin {
            c.hairpin = h
                .get_ref()
                .trim()
                .parse::<HairpinMode>()
                .map_err(|e| cx.at(h, e.to_string()))?;
        }
        if let Some(p) = &r.port_range {
            let s = p.get_ref().trim();
            let bad = || {
                cx.at(
                    p,
                    format!("bad port_range {s:?}: expected LOW-HIGH within 1..=65535"),
                )
            };
            let (a, b) = s.split_once('-').ok_or_else(bad)?;
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a == 0 || a > b {
                return Err(bad());
            }
            c.port_range = (a, b);
        }
        let count = |v: &Spanned<i64>, what: &str, max: i64| -> Result<u32, ConfigError> {
            let n = *v.get_ref();
            if !(1..=max).contains(&n) {
                return Err(cx.at(v, format!("{what} {n} out of range 1..={max}")));
            }
            Ok(n as u32)
        };
        if let Some(v) = &r.table_capacity {
            c.table_capacity = count(v, "table_capacity", i64::from(NatConfig::MAX_TABLE))?;
        }
        if let Some(v) = &r.sessions_per_subscriber {
            c.limits.sessions_per_subscriber =
                count(v, "sessions_per_subscriber", i64::from(u32::MAX))?;
        }
        if let Some(v) = &r.ports_per_subscriber {
            c.limits.ports_per_subscriber = count(v, "ports_per_subscriber", 65_535)?;
        }
        if let Some(t) = &r.timeouts {
            let secs = |v: &Option<Spanned<i64>>,
                        min: u32,
                        dflt: u32,
                        what: &str|
             -> Result<u32, ConfigError> {
                let Some(v) = v else { return Ok(dflt) };
                let n = *v.get_ref();
                let max = i64::from(dataplane::conntrack::Timeouts::MAX);
                if n < i64::from(min) || n > max {
                    return Err(cx.at(
                        v,
                        format!("timeouts.{what} {n} s out of range {min}..={max}"),
                    ));
                }
                Ok(n as u32)
            };
            use dataplane::conntrack::Timeouts as T;
            c.timeouts.udp = secs(&t.udp, T::MIN_UDP, c.timeouts.udp, "udp")?;
            c.timeouts.tcp_established = secs(
                &t.tcp_established,
                T::MIN_TCP_ESTABLISHED,
                c.timeouts.tcp_established,
                "tcp_established",
            )?;
            c.timeouts.tcp_transitory = secs(
                &t.tcp_transitory,
                T::MIN_TCP_TRANSITORY,
                c.timeouts.tcp_transitory,
                "tcp_transitory",
            )?;
            c.timeouts.icmp = secs(&t.icmp, T::MIN_ICMP, c.timeouts.icmp, "icmp")?;
            if let Some(b) = t.udp_inbound_refresh {
                c.timeouts.udp_inbound_refresh = b;
            }
        }
        let line = cx.line(raw.span());
        c.validate()
            .map_err(|e| cx.err(raw.span(), format!("[nat]: {e}")))?;

        let mut rules = Vec::with_capacity(r.rules.len());
        for (i, s) in r.rules.iter().enumerate() {
            let text = s.get_ref().trim();
            let spec =
                parse_rule(text).map_err(|e| cx.at(s, format!("rule {i} ({text:?}): {e}")))?;
            rules.push(RuleLine {
                text: text.to_string(),
                spec,
                line: cx.line(s.span()),
            });
        }

        let mut address_lists = Vec::new();
        for (name, entries) in &r.address_lists {
            if !is_ident(name) {
                return Err(cx.at(entries, format!("bad address list name {name:?}")));
            }
            let mut v = Vec::new();
            for e in entries.get_ref() {
                v.push(parse_address_spec(e.get_ref().trim()).map_err(|m| cx.at(e, m))?);
            }
            address_lists.push((name.clone(), v));
        }
        Ok(NatSection {
            config: c,
            rules,
            address_lists,
            line,
        })
    }

    fn eal(cx: &Ctx<'_>, raw: Option<&Spanned<RawEal>>) -> Result<EalConfig, ConfigError> {
        let mut eal = EalConfig {
            lcores_spec: "0".to_string(),
            lcores: vec![0],
            no_huge: false,
            memory_mb: 256,
            file_prefix: "dpnat".to_string(),
            extra_args: Vec::new(),
        };
        let Some(raw) = raw else { return Ok(eal) };
        let r = raw.get_ref();
        if let Some(l) = &r.lcores {
            let spec = l.get_ref().trim();
            eal.lcores = parse_lcores(spec).map_err(|e| cx.at(l, e))?;
            eal.lcores_spec = spec.to_string();
        }
        if let Some(n) = r.no_huge {
            eal.no_huge = n;
        }
        if let Some(m) = &r.memory_mb {
            let v = *m.get_ref();
            if !(64..=1_048_576).contains(&v) {
                return Err(cx.at(m, format!("memory_mb {v} out of range 64..=1048576")));
            }
            eal.memory_mb = v as u32;
        }
        if let Some(p) = &r.file_prefix {
            let s = p.get_ref().trim();
            if !is_ident(s) || s.len() > 64 {
                return Err(cx.at(
                    p,
                    format!("bad file_prefix {s:?}: use 1..=64 of [A-Za-z0-9_.-]"),
                ));
            }
            eal.file_prefix = s.to_string();
        }
        for a in &r.extra_args {
            if a.get_ref().contains('\0') || a.get_ref().is_empty() {
                return Err(cx.at(a, "bad EAL argument: empty or contains NUL"));
            }
            eal.extra_args.push(a.get_ref().clone());
        }
        Ok(eal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[eal]
lcores = "0-1"
no_huge = true
memory_mb = 256
file_prefix = "dpnat"
extra_args = ["--no-telemetry"]

[[interface]]
name = "lan"
device = "net_tap0,iface=dpnat-lan"
mac = "02:00:00:00:00:01"
addresses = ["192.168.88.1/24"]
mtu = 1500
lists = ["LAN"]

[[interface]]
name = "wan"
device = "0000:03:00.0"
addresses = ["203.0.113.1/24"]
lists = ["WAN"]

[[route]]
dst = "0.0.0.0/0"
gateway = "203.0.113.254"

[nat]
filtering = "endpoint-independent"
hairpin = "auto"
rules = ["chain=srcnat out-interface-list=WAN action=masquerade"]

[metrics]
listen = "127.0.0.1:9469"
"#;

    fn err(src: &str) -> String {
        Config::parse(src, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_example() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.eal.lcores, vec![0, 1]);
        assert!(c.eal.no_huge);
        assert_eq!(c.eal.extra_args, vec!["--no-telemetry".to_string()]);
        assert_eq!(c.interfaces.len(), 2);
        let lan = &c.interfaces[0];
        assert_eq!(lan.device_name(), "net_tap0");
        assert!(lan.is_vdev());
        assert!(!c.interfaces[1].is_vdev());
        assert_eq!(lan.mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            lan.addresses,
            vec![Ipv4Cidr {
                addr: Ipv4Addr::new(192, 168, 88, 1),
                prefix_len: 24
            }]
        );
        assert_eq!(c.interfaces[1].mtu, 1500);
        assert_eq!(c.routes[0].gateway, Some(Ipv4Addr::new(203, 0, 113, 254)));
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9469".parse().unwrap()));
        let nat = c.nat.unwrap();
        assert_eq!(nat.config.hairpin, HairpinMode::Auto);
        assert_eq!(nat.rules.len(), 1);
        assert_eq!(nat.rules[0].line, 30);
    }

    #[test]
    fn errors_name_the_line() {
        let bad_cidr = GOOD.replace("192.168.88.1/24", "192.168.88.1/33");
        assert_eq!(
            err(&bad_cidr),
            "t.toml:13: bad CIDR \"192.168.88.1/33\": prefix length must be 0..=32"
        );
        let bad_mac = GOOD.replace("02:00:00:00:00:01", "02:00:00:00:00");
        assert!(
            err(&bad_mac).starts_with("t.toml:12: bad MAC address"),
            "{}",
            err(&bad_mac)
        );
        let mcast = GOOD.replace("02:00:00:00:00:01", "01:00:5e:00:00:01");
        assert!(err(&mcast).starts_with("t.toml:12: bad MAC address"));
        let mtu = GOOD.replace("mtu = 1500", "mtu = 9217");
        assert_eq!(err(&mtu), "t.toml:14: mtu 9217 out of range 68..=9216");
        let dup = GOOD.replace("name = \"wan\"", "name = \"lan\"");
        assert_eq!(err(&dup), "t.toml:18: duplicate interface name \"lan\"");
        let unknown = GOOD.replace("mtu = 1500", "mtu = 1500\nspeed = 10");
        assert!(
            err(&unknown).starts_with("t.toml:15: unknown field `speed`"),
            "{}",
            err(&unknown)
        );
        let unknown_top = format!("{GOOD}\n[bogus]\nx = 1\n");
        assert!(
            err(&unknown_top).starts_with("t.toml:35: unknown field `bogus`"),
            "{}",
            err(&unknown_top)
        );
        let lc = GOOD.replace("\"0-1\"", "\"1-0\"");
        assert!(err(&lc).starts_with("t.toml:3: bad lcore list"));
        let gw = GOOD.replace("203.0.113.254", "203.0.113");
        assert!(err(&gw).starts_with("t.toml:25: bad gateway"));
        let dst = GOOD.replace("0.0.0.0/0", "10.0.0.1/8");
        assert_eq!(
            err(&dst),
            "t.toml:24: route destination 10.0.0.1/8 has host bits set"
        );
        let dev = GOOD.replace("0000:03:00.0", "eth0");
        assert!(err(&dev).starts_with("t.toml:19: bad device \"eth0\""));
        let same_dev = GOOD.replace("0000:03:00.0", "net_tap0,iface=other");
        assert!(err(&same_dev).starts_with("t.toml:19: device \"net_tap0\" is already used"));
        let listen = GOOD.replace("127.0.0.1:9469", "localhost");
        assert!(err(&listen).starts_with("t.toml:33: bad metrics listen address"));
        let syntax = GOOD.replace("mtu = 1500", "mtu = ");
        assert!(err(&syntax).starts_with("t.toml:14: "), "{}", err(&syntax));
        let ty = GOOD.replace("mtu = 1500", "mtu = \"big\"");
        assert!(
            err(&ty).starts_with("t.toml:14: invalid type"),
            "{}",
            err(&ty)
        );
    }

    #[test]
    fn every_error_is_one_line() {
        for src in [
            "",
            "[[interface]]\nname = \"a\"\n",
            "x = ",
            "[eal]\nmemory_mb = 1\n[[interface]]\nname=\"a\"\ndevice=\"net_null0\"",
        ] {
            let e = err(src);
            assert!(!e.contains('\n'), "{e:?}");
            assert!(e.starts_with("t.toml:"), "{e:?}");
        }
    }

    #[test]
    fn defaults_and_helpers() {
        let c =
            Config::parse("[[interface]]\nname = \"a\"\ndevice = \"net_null0\"\n", "t").unwrap();
        assert_eq!(c.eal.lcores, vec![0]);
        assert!(!c.eal.no_huge);
        assert_eq!(c.interfaces[0].mtu, 1500);
        assert!(c.metrics.listen.is_none());
        assert!(c.nat.is_none());
        assert_eq!(parse_lcores("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_lcores("0,0").is_err());
        assert!(parse_lcores("128").is_err());
        assert!(
            is_pci_address("0000:03:00.0")
                && is_pci_address("03:00.1")
                && !is_pci_address("03:00.8")
        );
        assert!(Ipv4Cidr::parse("10.0.0.0/8").unwrap().is_network());
        assert!(Ipv4Cidr::parse("10.0.0.0").is_err());
    }
}
