//! Corpus agreement (issue: "Workspace, nginx.conf parser and `sluice -t`"): runs
//! `../shared/corpus/_fixtures/nginx-t.sh -n sluice` over every public configuration of
//! the corpus, in both modes, and compares with what nginx 1.22.1 printed
//! (`expected-output.txt`) using `compare.py`'s rules.
//!
//! A run may differ only where sluice refuses an access-control directive it does not
//! enforce yet (`(sluice: refused-unsafe)`). The sandbox needs root (mount and network
//! namespaces); without it the test says so and passes, except under CI, where it fails.
//! Debian's dynamic module files (`NGINX_MODULES_DIR`, fetched by `.ci/run`) are needed
//! for the two fixtures that `load_module` them; without them those two may differ.

use std::path::PathBuf;
use std::process::Command;

fn shared() -> PathBuf {
    std::env::var_os("SLUICE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// Splits nginx-t.sh output into `(header, lines)` blocks.
fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("== ") {
            out.push((
                h.split(" exit=").next().unwrap_or(h).to_string(),
                vec![line.to_string()],
            ));
        } else if let Some(last) = out.last_mut() {
            last.1.push(line.to_string());
        }
    }
    out
}

#[test]
fn corpus_agreement_with_nginx() {
    let fixtures = shared().join("corpus/_fixtures");
    let ci = std::env::var_os("CI").is_some();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    if !fixtures.is_dir() || !is_root {
        let why = if is_root {
            "../shared/corpus is missing"
        } else {
            "it needs root for its sandbox"
        };
        assert!(!ci, "corpus agreement cannot run under CI: {why}");
        eprintln!("corpus agreement skipped: {why}");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_sluice");
    let out = Command::new("bash")
        .arg(fixtures.join("nginx-t.sh"))
        .args(["-n", bin])
        .output()
        .expect("run nginx-t.sh");
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    let got_file = std::env::temp_dir().join(format!("sluice-corpus-{}.txt", std::process::id()));
    std::fs::write(&got_file, &got).expect("write corpus output");
    let cmp = Command::new("python3")
        .arg(fixtures.join("compare.py"))
        .arg(fixtures.join("expected-output.txt"))
        .arg(&got_file)
        .output()
        .expect("run compare.py");
    let _ = std::fs::remove_file(&got_file);
    let report = String::from_utf8_lossy(&cmp.stdout).into_owned();
    let summary = report.lines().last().unwrap_or("").to_string();
    eprintln!("corpus: {summary}");

    let modules = std::env::var_os("NGINX_MODULES_DIR").is_some();
    let sluice_blocks = blocks(&got);
    let mut refused = Vec::new();
    let mut unexplained = Vec::new();
    for line in report.lines() {
        let Some(key) = line.strip_prefix("DIFFERS == ") else {
            continue;
        };
        let lines = sluice_blocks
            .iter()
            .find(|(h, _)| h == key)
            .map(|(_, l)| l.join("\n"))
            .unwrap_or_default();
        if lines.contains("(sluice: refused-unsafe)") {
            refused.push(key.to_string());
        } else if !modules && lines.contains("dlopen()") {
            eprintln!(
                "corpus: {key} needs Debian's module files (set NGINX_MODULES_DIR): not counted"
            );
        } else {
            unexplained.push(format!("{key}\n{lines}"));
        }
    }
    eprintln!("corpus: {} runs differ only because sluice refuses an unenforced access-control directive:", refused.len());
    for r in &refused {
        eprintln!("  {r}");
    }
    assert!(
        unexplained.is_empty(),
        "runs that differ from nginx:\n{}",
        unexplained.join("\n\n")
    );
    assert!(
        summary.starts_with("agree "),
        "compare.py printed no summary: {report}"
    );
}
