//! `dpnat`: the DPDK IPv4 NAT appliance.
#![deny(unsafe_code)]

use clap::{Parser, Subcommand};
use control::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "dpnat", version, about = "DPDK-based IPv4 NAT appliance")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the dataplane; runs until SIGINT or SIGTERM. SIGHUP re-reads
    /// the config: on an error it is reported as FILE:LINE and the running
    /// configuration stays; established sessions survive a reload.
    Run {
        /// The TOML config file.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a config file without starting DPDK.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok ({} interface(s), {} route(s), {} NAT rule(s))",
                    file.display(),
                    c.interfaces.len(),
                    c.routes.len(),
                    c.nat.as_ref().map_or(0, |n| n.rules.len())
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Cmd::Run { config } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                // A second signal while stopping exits at once.
                let r = signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
                    .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
                if let Err(e) = r {
                    eprintln!("dpnat: cannot install signal handler: {e}");
                    return ExitCode::from(1);
                }
            }
            let hup = Arc::new(AtomicBool::new(false));
            if let Err(e) =
                signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
            {
                eprintln!("dpnat: cannot install SIGHUP handler: {e}");
                return ExitCode::from(1);
            }
            let reload = control::run::Reload {
                path: config.clone(),
                signal: &hup,
            };
            match control::run::run_with(&cfg, &stop, Some(reload), |line| {
                println!("dpnat: {line}")
            }) {
                Ok(s) => {
                    println!(
                        "dpnat: stopped: {} worker(s), rx {} packets / {} bytes, tx {} packets / {} bytes, dropped {}",
                        s.workers,
                        s.totals.rx_packets,
                        s.totals.rx_bytes,
                        s.totals.tx_packets,
                        s.totals.tx_bytes,
                        s.dropped()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dpnat: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
