//! Every `conf-examples/*.conf` passes `sluice -t` (and `nginx -t`, where installed)
//! with the two success lines and exit 0 (STYLE §6.2).

use crate::harness::{nginx, nginx_t, normalise, repo, sluice_t, TempDir};
use std::path::PathBuf;

fn examples() -> Vec<PathBuf> {
    let dir = repo().join("conf-examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("conf"))
        .collect();
    out.sort();
    out
}

fn success(conf: &std::path::Path) -> String {
    format!(
        "exit=0\nsluice: the configuration file {c} syntax is ok\nsluice: configuration file {c} test is successful\n",
        c = conf.display()
    )
}

#[test]
fn conf_examples_pass_sluice_t() {
    let prefix = repo().join("conf-examples");
    let all = examples();
    assert!(!all.is_empty(), "no conf-examples/*.conf");
    let mut bad = Vec::new();
    for conf in &all {
        let got = normalise(&sluice_t(&prefix, conf), &PathBuf::from("/nonexistent"));
        if got != success(conf) {
            bad.push(format!("{}:\n{got}", conf.display()));
        }
    }
    assert!(bad.is_empty(), "sluice -t fails on:\n{}", bad.join("\n"));
}

#[test]
fn conf_examples_pass_nginx_t() {
    let Some(nginx) = nginx() else {
        eprintln!("nginx is not on PATH: skipped nginx -t on conf-examples");
        return;
    };
    let prefix = repo().join("conf-examples");
    let logs = TempDir::new("examples-nginx");
    let mut bad = Vec::new();
    for conf in examples() {
        let log = logs.path().join("error.log");
        let got = normalise(&nginx_t(&nginx, &prefix, &conf, &log), logs.path());
        if got != success(&conf) {
            bad.push(format!("{}:\n{got}", conf.display()));
        }
    }
    assert!(bad.is_empty(), "nginx -t fails on:\n{}", bad.join("\n"));
}
