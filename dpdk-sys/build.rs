//! Finds the distro's shared DPDK (>= 22.11) with pkg-config, generates
//! allowlisted bindings with bindgen using the exact `pkg-config --cflags`
//! (rte_mbuf's layout depends on the force-included rte_config.h), and
//! compiles the C shim for DPDK's `static inline` hot-path functions.
//!
//! Any missing prerequisite fails the build with one line naming the packages.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_VERSION: &str = "22.11";
const INSTALL_HINT: &str = "fix: apt-get install dpdk-dev libdpdk-dev libclang-dev pkg-config";

fn fail(what: &str) -> ! {
    eprintln!("dpdk-sys: {what}; {INSTALL_HINT}");
    std::process::exit(1);
}

fn pkg_config_bin() -> String {
    env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string())
}

/// The exact cflags, as whitespace-separated words (DPDK's .pc has no quoting).
fn dpdk_cflags() -> Vec<String> {
    let out = Command::new(pkg_config_bin())
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|_| fail("pkg-config not found"));
    if !out.status.success() {
        fail("`pkg-config --cflags libdpdk` failed (libdpdk not found)");
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Shared distro libraries only: never static, never vendored.
    let lib = pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .statik(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            let first = e.to_string();
            let first = first
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no details")
                .to_string();
            fail(&format!(
                "libdpdk >= {MIN_VERSION} not found via pkg-config: {first}"
            ))
        });
    // The ring PMD's constructor API (rte_eth_from_rings) is not in libdpdk.pc's
    // Libs. The distro ships it as the same file the EAL loads from its driver
    // directory (one inode), so linking it cannot register the driver twice.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");

    let cflags = dpdk_cflags();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR set by cargo"));

    let mut cc = cc::Build::new();
    cc.file("csrc/shim.c")
        .include("csrc")
        .warnings(true)
        .opt_level(2);
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("dpnat_shim");

    // bindgen panics when libclang cannot be loaded; turn that into our one line.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let generated = std::panic::catch_unwind(|| generate(&cflags));
    std::panic::set_hook(default_hook);
    let bindings = match generated {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!(
            "bindgen could not parse the DPDK headers ({})",
            e.to_string().lines().next().unwrap_or("")
        )),
        Err(_) => fail("libclang not found (bindgen needs it)"),
    };
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));

    // Dependents (dataplane) can read these as DEP_DPDK_*.
    for p in &lib.include_paths {
        println!("cargo:include={}", p.display());
    }
    println!("cargo:cflags={}", cflags.join(" "));
}

fn generate(cflags: &[String]) -> Result<bindgen::Bindings, bindgen::BindgenError> {
    bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(cflags)
        .clang_arg("-Icsrc")
        // DPDK's doxygen comments would become (failing) doc tests.
        .generate_comments(false)
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .allowlist_function("dpnat_.*")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_.*")
        .allowlist_function("rte_mempool_(free|lookup|in_use_count|avail_count)")
        .allowlist_function("rte_ring_(create|free|lookup)")
        .allowlist_function("rte_(lcore_.*|socket_id|get_main_lcore|get_next_lcore|strerror)")
        .allowlist_function("rte_(dev_probe|dev_remove)")
        .allowlist_type("dpnat_.*")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_mempool")
        .allowlist_type("rte_ring")
        .allowlist_type(
            "rte_eth_(conf|stats|link|dev_info|xstat|xstat_name|rxconf|txconf|rss_conf)",
        )
        .allowlist_type("rte_(ether|vlan|arp|ipv4|tcp|udp|icmp)_hdr")
        .allowlist_type("rte_arp_ipv4")
        .allowlist_var("RTE_(ETH|MBUF|PKTMBUF|MAX|ETHER|RING|MEMPOOL|LCORE|ARP|IPV4)_.*")
        .allowlist_var("RING_F_.*")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("LCORE_ID_ANY")
        // Packed (+ aligned) wire headers that bindgen cannot lay out faithfully;
        // dpnat parses wire formats in pure Rust (dataplane::wire) anyway.
        .opaque_type("rte_(ether|vlan|arp|ipv4|tcp|udp|icmp)_hdr")
        .opaque_type("rte_arp_ipv4")
        // __rte_aligned(2) byte array: defined by hand in lib.rs.
        .blocklist_type("rte_ether_addr")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
}
