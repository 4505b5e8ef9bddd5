//! Replays every fuzz input ever kept — the seed corpus in `fuzz/corpus/<target>/`
//! and the crash/regression inputs in `fuzz/regressions/<target>/` — through
//! the same target bodies the cargo-fuzz binaries run (`fuzz/src/targets.rs`).
//! Runs on stable, so CI catches a regression without nightly or libFuzzer.

#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn replay<R>(target: &str, f: fn(&[u8]) -> R, min_files: usize) {
    let files = inputs(target);
    assert!(
        files.len() >= min_files,
        "{target}: expected at least {min_files} corpus files, found {}",
        files.len()
    );
    for p in &files {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let r = std::panic::catch_unwind(|| f(&data));
        assert!(r.is_ok(), "{target}: input {} panics", p.display());
        // Every prefix too: truncation is the commonest malformation.
        for cut in [0, 1, data.len() / 2, data.len().saturating_sub(1)] {
            let _ = f(&data[..cut.min(data.len())]);
        }
    }
}

#[test]
fn wire_parse_corpus_never_panics() {
    replay("wire_parse", targets::wire_parse, 8);
}

#[test]
fn engine_process_corpus_never_panics() {
    replay("engine_process", targets::engine_process, 4);
}

#[test]
fn rules_parse_corpus_never_panics() {
    replay("rules_parse", targets::rules_parse, 4);
}

/// The engine seeds reach the translation paths, not just the parsers:
/// the seed story creates its sessions in both hairpin modes.
#[test]
fn engine_seeds_translate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engine_process");
    for (name, min_fwd, min_sessions) in [
        ("seed_story_auto", 8, 4),
        ("seed_story_rules", 8, 4),
        ("tcp_lifecycle", 5, 1),
        ("fragments_out_of_order", 1, 1),
    ] {
        let data = std::fs::read(root.join(name)).expect("seed file");
        let (fwd, created) = targets::engine_process(&data);
        assert!(
            fwd >= min_fwd && created >= min_sessions,
            "{name}: {fwd} forwarded, {created} sessions created"
        );
    }
}

/// The seed snapshot itself is valid in both hairpin modes (the fuzz
/// targets would otherwise panic on every input).
#[test]
fn seed_snapshot_builds() {
    for m in [
        dataplane::nat::HairpinMode::Auto,
        dataplane::nat::HairpinMode::Rules,
    ] {
        assert_eq!(targets::seed_snapshot(m).rules.len(), 5);
    }
}
