//! The differential suite: every case runs the same raw request bytes through a real
//! nginx 1.22.1 and through sluice, both serving ONE config template against the SAME
//! test origins, and compares what the origins received (request line, headers in order
//! and case, body, which origin, which connection) and what the client got (status line,
//! headers in order, body, framing, closes; timing where the case asks for it; the
//! error-log lines of level warn and above where the case asks with `.error_log()`).
//!
//! Layout: `origin.rs` (the recording origin), `client.rs` (raw client), `procs.rs`
//! (nginx/sluice processes), `run.rs` (groups, normalisation, diff); the cases are in
//! `c_*.rs`, one file per SEMANTICS section, each case named after the behaviour.
//!
//! When `nginx` is not on PATH the suite says so and passes, except under CI (`CI` set).
//! Environment knobs for a developer:
//! - `DIFF_FILTER=substr`: only the cases whose `group/name` contains it;
//! - `DIFF_JOBS=n`: how many groups run at once (default 4);
//! - `DIFF_VERBOSE=1`: a failing case also prints both transcripts in full;
//! - `DIFF_SHOW=substr`: prints nginx's transcript of matching cases, passing or not;
//! - `DIFF_KEEP_LOGS=1`: keeps the group directories and prints both programs' stderr.
//!
//! Cases marked `.skip(reason)` are out of scope for now; each run lists them with the
//! reason.

mod client;
mod origin;
pub(crate) mod procs;
mod run;

mod c_access;
mod c_auth;
mod c_auth_request;
mod c_framing;
mod c_headers;
mod c_location;
mod c_map;
mod c_response;
mod c_return;
mod c_rewrite;
mod c_server;
mod c_static;
mod c_timeouts;
mod c_traps;
mod c_upstream;
mod c_uri;

use run::Group;

fn all_groups() -> Vec<Group> {
    let mut g = Vec::new();
    g.extend(c_server::groups());
    g.extend(c_location::groups());
    g.extend(c_uri::groups());
    g.extend(c_headers::groups());
    g.extend(c_response::groups());
    g.extend(c_framing::groups());
    g.extend(c_map::groups());
    g.extend(c_upstream::groups());
    g.extend(c_timeouts::groups());
    g.extend(c_traps::groups());
    g.extend(c_access::groups());
    g.extend(c_auth_request::groups());
    g.extend(c_auth::groups());
    g.extend(c_return::groups());
    g.extend(c_static::groups());
    g.extend(c_rewrite::groups());
    g
}

/// Writes to the process's stderr directly: libtest captures `eprintln!` of passing
/// tests, and the summary line should show in every run.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[test]
fn sluice_matches_nginx() {
    let Some(nginx) = procs::nginx_on_path() else {
        if std::env::var_os("CI").is_some() {
            panic!("diff: nginx is not on PATH, and CI must run the differential suite");
        }
        say("diff: skipped (nginx is not on PATH)");
        return;
    };
    let groups = all_groups();
    run::check_names(&groups);
    let report = run::run_all(&nginx, groups);
    say(&report.summary());
    if !report.failures.is_empty() {
        panic!("{}", report.failure_text());
    }
}
