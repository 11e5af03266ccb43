//! The conformance suite (STYLE §6.2): every `tests/conf-invalid/NAME.conf` through
//! `sluice -t`, compared with `NAME.expected`, the output nginx 1.22.1 gave for it.
//!
//! A case is `NAME.conf` (copied to `DIR/nginx.conf`), optionally `NAME.files/` (its
//! contents copied into `DIR`: included files and the like), and `NAME.expected`:
//! `exit=N`, then stderr with `nginx:` spelled `sluice:` and the case directory spelled
//! `{DIR}`. When nginx is on PATH the same run is made with it too, so the fixtures
//! cannot drift from the oracle; `UPDATE_EXPECT=1 cargo test --test e2e conf_invalid`
//! rewrites the `.expected` files from nginx's output (review the diff).

use crate::harness::{copy_tree, nginx, nginx_t, normalise, repo, sluice_t, TempDir};
use std::path::{Path, PathBuf};

struct Case {
    name: String,
    conf: PathBuf,
    files: Option<PathBuf>,
    expected: String,
}

fn cases() -> Vec<Case> {
    let dir = repo().join("tests/conf-invalid");
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let expected_path = dir.join(format!("{name}.expected"));
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let files = dir.join(format!("{name}.files"));
        out.push(Case {
            name,
            conf: path,
            files: files.is_dir().then_some(files),
            expected,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Lays a case out in a fresh directory: `DIR/nginx.conf` and its extra files.
fn stage(case: &Case) -> TempDir {
    let dir = TempDir::new(&case.name);
    std::fs::copy(&case.conf, dir.path().join("nginx.conf"))
        .unwrap_or_else(|e| panic!("{}: {e}", case.conf.display()));
    if let Some(files) = &case.files {
        copy_tree(files, dir.path()).unwrap_or_else(|e| panic!("{}: {e}", files.display()));
    }
    dir
}

/// Runs `check` on every case, a few at a time (some cases wait for DNS answers), and
/// returns one report line block per mismatch.
fn mismatches(all: &[Case], check: impl Fn(&Case, &Path) -> String + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    let chunk = all.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                let check = &check;
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for case in part {
                        let dir = stage(case);
                        let got = check(case, dir.path());
                        if got != case.expected {
                            bad.push(format!(
                                "--- {} (expected)\n{}+++ {} (got)\n{}",
                                case.name, case.expected, case.name, got
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect()
    })
}

#[test]
fn conf_invalid_cases_match_nginx_output() {
    let all = cases();
    assert!(all.len() >= 70, "only {} conformance cases", all.len());
    let bad = mismatches(&all, |_, dir| {
        normalise(&sluice_t(dir, &dir.join("nginx.conf")), dir)
    });
    assert!(
        bad.is_empty(),
        "sluice -t disagrees with nginx on {} of {} cases:\n\n{}",
        bad.len(),
        all.len(),
        bad.join("\n")
    );
}

#[test]
fn conf_invalid_fixtures_still_match_nginx() {
    let Some(nginx) = nginx() else {
        eprintln!("nginx is not on PATH: skipped re-checking the conf-invalid fixtures");
        return;
    };
    let all = cases();
    // UPDATE_EXPECT=1 (as for expect-test) rewrites the fixtures from nginx's output.
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let bad = mismatches(&all, |case, dir| {
        let log = dir.join("nginx-error.log");
        let got = normalise(&nginx_t(&nginx, dir, &dir.join("nginx.conf"), &log), dir);
        if update && got != case.expected {
            let path = case.conf.with_extension("expected");
            std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return case.expected.clone();
        }
        got
    });
    assert!(
        bad.is_empty(),
        "{} of {} .expected files no longer match {}:\n\n{}",
        bad.len(),
        all.len(),
        nginx.display(),
        bad.join("\n")
    );
}
