//! Groups and cases, the runner, the normalisation that makes the two programs'
//! answers comparable, and the report.
//!
//! A [`Group`] is one config (the body of `http { }`) with placeholders: `{L0}`, `{L1}`…
//! the proxy's own listen ports (different for nginx and sluice), `{O0}`, `{O1}`… the
//! origins' ports, `{DEAD}` a port nobody listens on, `{HOLE}` a listener that never
//! completes a connect, `{DIR}` the group's directory. nginx and sluice each run once per
//! group; its cases run one after the other, each first against nginx and then against
//! sluice. Balancer state therefore carries from case to case identically in both.

use super::client::{self, Obs, Step, Timed};
use super::origin::{Act, Origins, Record, Script};
use super::procs::{free_port, BlackHole, Proc};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `Date` an origin script may send: kept as is when passed through.
pub const ORIGIN_DATE: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

/// Fills a group's directory (`{DIR}`, the prefix both programs run with) before they
/// start: the files a static-file config serves, the same bytes for nginx and sluice.
pub type Prepare = fn(&Path) -> std::io::Result<()>;

static PREPARE: Mutex<Vec<(&'static str, Prepare)>> = Mutex::new(Vec::new());

/// Registers `hook` for the group named `group` (call it from the group's `groups()`).
pub fn prepare(group: &'static str, hook: Prepare) {
    if let Ok(mut list) = PREPARE.lock() {
        list.push((group, hook));
    }
}

fn prepare_of(group: &str) -> Option<Prepare> {
    PREPARE
        .lock()
        .ok()?
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, h)| *h)
}

/// One config and the cases run against it.
pub struct Group {
    pub name: &'static str,
    /// The body of `http { }`.
    pub http: String,
    /// How many origins.
    pub origins: usize,
    pub cases: Vec<Case>,
}

impl Group {
    /// The same config in `parts` groups sharing the cases out, so slow cases (timeouts)
    /// run in parallel.
    pub fn split(self, parts: usize) -> Vec<Group> {
        let mut out: Vec<Group> = (0..parts.max(1))
            .map(|_| Group {
                name: self.name,
                http: self.http.clone(),
                origins: self.origins,
                cases: Vec::new(),
            })
            .collect();
        let n = out.len();
        for (i, c) in self.cases.into_iter().enumerate() {
            out[i % n].cases.push(c);
        }
        out.retain(|g| !g.cases.is_empty());
        out
    }
}

/// One behaviour: client steps, origin scripts, and how to compare.
#[derive(Clone)]
pub struct Case {
    pub name: &'static str,
    pub steps: Vec<Step>,
    /// Per origin, the scripts for its successive requests.
    pub scripts: Vec<Vec<Script>>,
    /// Compare when each observation completed (tolerance 450 ms).
    pub timing: bool,
    /// Out of scope for now: the reason is printed, the case is not run.
    pub skip: Option<&'static str>,
    /// Which listen port (`{Ln}`) and address to connect to.
    pub port: usize,
    pub ip: Ipv4Addr,
    /// The client's own address (ip_hash), when not the default.
    pub src: Option<Ipv4Addr>,
    /// Upper bound for each read.
    pub limit: Duration,
    /// Compare the error-log lines (warn and above) the case made, too.
    pub error_log: bool,
    /// Replace every run of digits in response bodies (and `Content-Length`) by `N`:
    /// for outputs whose figures legitimately differ (`stub_status` counters) while the
    /// format must not.
    pub mask_digits: bool,
    /// Also compare the error-log lines the case's requests caused (level and message,
    /// with the client, server, request and host nginx appends).
    pub errlog: bool,
}

/// A case named `name` (no steps yet).
pub fn case(name: &'static str) -> Case {
    Case {
        name,
        steps: Vec::new(),
        scripts: Vec::new(),
        timing: false,
        skip: None,
        port: 0,
        ip: Ipv4Addr::LOCALHOST,
        src: None,
        limit: Duration::from_secs(6),
        error_log: false,
        mask_digits: false,
        errlog: false,
    }
}

impl Case {
    /// Sends a request and reads its response (HEAD requests read no body).
    pub fn req(mut self, raw: &str) -> Self {
        let head = raw.starts_with("HEAD ");
        self.steps.push(Step::Send(raw.as_bytes().to_vec()));
        self.steps.push(Step::Response { head });
        self
    }
    /// `GET path HTTP/1.1` with `Host: test`.
    pub fn get(self, path: &str) -> Self {
        self.req(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
    }
    /// A GET with extra header lines (each ending in `\r\n`).
    pub fn get_h(self, path: &str, headers: &str) -> Self {
        self.req(&format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n"
        ))
    }
    /// Sends bytes without reading.
    pub fn send(mut self, raw: &[u8]) -> Self {
        self.steps.push(Step::Send(raw.to_vec()));
        self
    }
    /// Reads one response.
    pub fn read(mut self) -> Self {
        self.steps.push(Step::Response { head: false });
        self
    }
    /// Reads raw bytes for up to `ms`.
    pub fn raw(mut self, ms: u64) -> Self {
        self.steps.push(Step::Raw(ms));
        self
    }
    /// Observes whether the server closes within `ms`.
    pub fn eof(mut self, ms: u64) -> Self {
        self.steps.push(Step::Eof(ms));
        self
    }
    pub fn half_close(mut self) -> Self {
        self.steps.push(Step::HalfClose);
        self
    }
    pub fn sleep(mut self, ms: u64) -> Self {
        self.steps.push(Step::Sleep(ms));
        self
    }
    /// Origin `i` answers its successive requests with these scripts (the last repeats).
    pub fn origin(mut self, i: usize, scripts: Vec<Script>) -> Self {
        if self.scripts.len() <= i {
            self.scripts.resize(i + 1, Vec::new());
        }
        self.scripts[i] = scripts;
        self
    }
    /// Every request to origin `i` gets this one script.
    pub fn answer(self, i: usize, script: Script) -> Self {
        self.origin(i, vec![script])
    }
    pub fn timing(mut self) -> Self {
        self.timing = true;
        self
    }
    pub fn skip(mut self, reason: &'static str) -> Self {
        self.skip = Some(reason);
        self
    }
    pub fn port(mut self, n: usize) -> Self {
        self.port = n;
        self
    }
    pub fn ip(mut self, ip: [u8; 4]) -> Self {
        self.ip = Ipv4Addr::from(ip);
        self
    }
    /// Also compares the error-log lines (level warn and above) written during the case,
    /// with the time, process and connection numbers left out.
    pub fn error_log(mut self) -> Self {
        self.error_log = true;
        self
    }
    pub fn source_ip(mut self, ip: [u8; 4]) -> Self {
        self.src = Some(Ipv4Addr::from(ip));
        self
    }
    pub fn mask_digits(mut self) -> Self {
        self.mask_digits = true;
        self
    }
    pub fn errlog(mut self) -> Self {
        self.errlog = true;
        self
    }
}

// ----- origin script helpers -------------------------------------------------------------

/// Send these bytes then close.
pub fn reply(raw: &str) -> Script {
    vec![Act::Send(raw.as_bytes().to_vec()), Act::Close]
}
/// A full response with this status line, extra header lines and body
/// (`Content-Length` added), then close.
pub fn resp(status: &str, headers: &str, body: &str) -> Script {
    reply(&format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}
/// Close without answering.
pub fn hang_up() -> Script {
    vec![Act::Close]
}
/// Wait `ms`, then answer with `then`.
pub fn delayed(ms: u64, then: Script) -> Script {
    let mut s = vec![Act::Sleep(ms)];
    s.extend(then);
    s
}
/// Raw pieces with pauses between them, then close.
pub fn trickle(pieces: &[&str], gap_ms: u64) -> Script {
    let mut s = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            s.push(Act::Sleep(gap_ms));
        }
        s.push(Act::Send(p.as_bytes().to_vec()));
    }
    s.push(Act::Close);
    s
}
/// A keep-alive response (the connection stays open for the next request).
pub fn keep(status: &str, headers: &str, body: &str) -> Script {
    vec![
        Act::Send(
            format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
        Act::KeepAlive,
    ]
}
/// A 101 answer, then echo whatever comes.
pub fn upgrade_echo(extra: &str) -> Script {
    vec![
        Act::Send(
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n")
                .into_bytes(),
        ),
        Act::Echo,
    ]
}

// ----- running -----------------------------------------------------------------------------

/// Everything the runs produced.
pub struct Report {
    pub passed: usize,
    pub failures: Vec<String>,
    pub skipped: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for k in &self.skipped {
            let _ = writeln!(s, "diff: skipped {k}");
        }
        let _ = writeln!(s, "diff: suite took {:.1} s", self.elapsed.as_secs_f64());
        let _ = write!(
            s,
            "diff: {} passed, {} failed, {} skipped",
            self.passed,
            self.failures.len(),
            self.skipped.len()
        );
        s
    }
    pub fn failure_text(&self) -> String {
        let mut s = format!(
            "{} case(s) where sluice differs from nginx 1.22.1:\n\n",
            self.failures.len()
        );
        for f in &self.failures {
            s.push_str(f);
            s.push('\n');
        }
        s
    }
}

/// Every case name is unique (a report names cases alone).
pub fn check_names(groups: &[Group]) {
    let mut seen = std::collections::HashSet::new();
    for g in groups {
        for c in &g.cases {
            assert!(seen.insert(c.name), "duplicate case name {}", c.name);
        }
    }
}

pub fn run_all(nginx: &Path, groups: Vec<Group>) -> Report {
    let t0 = Instant::now();
    let filter = std::env::var("DIFF_FILTER").ok();
    let jobs: usize = std::env::var("DIFF_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
        .max(1);
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|mut g| {
            if let Some(f) = &filter {
                let gname = g.name;
                g.cases
                    .retain(|c| format!("{gname}/{}", c.name).contains(f.as_str()));
            }
            g
        })
        .filter(|g| !g.cases.is_empty())
        .collect();
    // Slow groups (timeouts) first, so they overlap with the rest.
    groups.sort_by_key(|g| std::cmp::Reverse(g.cases.iter().filter(|c| c.timing).count()));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<GroupResult>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(groups.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(g) = groups.get(i) else { break };
                let r = run_group(nginx, g, i);
                if let Ok(mut all) = results.lock() {
                    all.push(r);
                }
            });
        }
    });
    let mut report = Report {
        passed: 0,
        failures: Vec::new(),
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for (p, f, sk) in results.into_inner().unwrap_or_default() {
        report.passed += p;
        report.failures.extend(f);
        report.skipped.extend(sk);
    }
    report.failures.sort();
    report.skipped.sort();
    report.elapsed = t0.elapsed();
    report
}

struct Env {
    dir: PathBuf,
    origins: Origins,
    dead: u16,
    hole: Option<BlackHole>,
}

fn placeholders(text: &str, prefix: &str) -> usize {
    (0..16)
        .take_while(|i| text.contains(&format!("{{{prefix}{i}}}")))
        .count()
}

fn substitute(text: &str, listen: &[u16], env: &Env) -> String {
    let mut t = text.to_string();
    for (i, p) in listen.iter().enumerate() {
        t = t.replace(&format!("{{L{i}}}"), &p.to_string());
    }
    for (i, p) in env.origins.ports.iter().enumerate() {
        t = t.replace(&format!("{{O{i}}}"), &p.to_string());
    }
    t = t.replace("{DEAD}", &env.dead.to_string());
    if let Some(h) = &env.hole {
        t = t.replace("{HOLE}", &h.port.to_string());
    }
    t.replace("{DIR}", &env.dir.display().to_string())
}

/// The listen addresses a config declares (`listen IP:{Ln}`), to wait for.
fn listen_addrs(conf: &str) -> Vec<(IpAddr, u16)> {
    let mut out = Vec::new();
    for line in conf.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("listen ") {
            let a = rest.split([' ', ';']).next().unwrap_or("");
            if let Ok(sa) = a.parse::<SocketAddr>() {
                if !out.contains(&(sa.ip(), sa.port())) {
                    out.push((sa.ip(), sa.port()));
                }
            }
        }
    }
    out
}

fn full_conf(http: &str) -> String {
    format!(
        "worker_processes 1;\nevents {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n    client_body_temp_path {{DIR}}/body;\n    proxy_temp_path {{DIR}}/proxy;\n{http}\n}}\n"
    )
}

/// What one group gave: (passed, failure texts, skipped names).
type GroupResult = (usize, Vec<String>, Vec<String>);

/// Runs one group.
fn run_group(nginx: &Path, g: &Group, index: usize) -> GroupResult {
    let fail_all = |why: String| {
        let f = g
            .cases
            .iter()
            .filter(|c| c.skip.is_none())
            .map(|c| format!("=== {}/{}: could not run: {why}\n", g.name, c.name))
            .collect();
        let sk = skipped_of(g);
        (0, f, sk)
    };
    let dir = std::env::temp_dir().join(format!(
        "sluice-diff-{}-{index}-{}",
        std::process::id(),
        g.name
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail_all(format!("mkdir {}: {e}", dir.display()));
    }
    let _cleanup = RemoveDir(dir.clone());
    if let Some(hook) = prepare_of(g.name) {
        if let Err(e) = hook(&dir) {
            return fail_all(format!("preparing {}: {e}", dir.display()));
        }
    }
    let origins = match Origins::start(g.origins) {
        Ok(o) => o,
        Err(e) => return fail_all(format!("origins: {e}")),
    };
    let hole = if g.http.contains("{HOLE}") {
        match BlackHole::new() {
            Ok(h) => Some(h),
            Err(e) => return fail_all(format!("black hole: {e}")),
        }
    } else {
        None
    };
    let env = Env {
        dir: dir.clone(),
        origins,
        dead: free_port(),
        hole,
    };
    let template = full_conf(&g.http);
    let nlisten = placeholders(&template, "L").max(1);
    let sluice_bin = PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
    // Two attempts: a port picked free may be taken by the time the proxy binds it.
    let mut started = None;
    let mut last_err = String::new();
    for _ in 0..2 {
        // Never a port the config already names ({DEAD}, origins) or one taken twice.
        let mut taken: Vec<u16> = env.origins.ports.clone();
        taken.push(env.dead);
        if let Some(h) = &env.hole {
            taken.push(h.port);
        }
        let mut pick = || loop {
            let p = free_port();
            if p != 0 && !taken.contains(&p) {
                taken.push(p);
                break p;
            }
        };
        let np: Vec<u16> = (0..nlisten).map(|_| pick()).collect();
        let sp: Vec<u16> = (0..nlisten).map(|_| pick()).collect();
        let nconf = substitute(&template, &np, &env);
        let sconf = substitute(&template, &sp, &env);
        if std::fs::write(dir.join("nginx.conf"), &nconf).is_err()
            || std::fs::write(dir.join("sluice.conf"), &sconf).is_err()
        {
            return fail_all("cannot write the configs".into());
        }
        let n = Proc::start("nginx", nginx, &dir, "nginx.conf", &listen_addrs(&nconf));
        let s = Proc::start(
            "sluice",
            &sluice_bin,
            &dir,
            "sluice.conf",
            &listen_addrs(&sconf),
        );
        match (n, s) {
            (Ok(n), Ok(s)) => {
                started = Some((n, np, s, sp));
                break;
            }
            (Err(e), _) | (_, Err(e)) => last_err = e,
        }
    }
    let Some((nproc, np, sproc, sp)) = started else {
        return fail_all(last_err);
    };
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut epoch = 0u64;
    for c in &g.cases {
        if c.skip.is_some() {
            continue;
        }
        let mut runs = Vec::new();
        let mut nginx_log_lines = 0usize;
        for (ports, norm_label) in [(&np, "nginx"), (&sp, "sluice")] {
            let log_path = dir.join(format!("{norm_label}-error.log"));
            let log_from = std::fs::metadata(&log_path).map_or(0, |m| m.len());
            epoch += 1;
            let log_path = dir.join(format!("{norm_label}-error.log"));
            let log_start = std::fs::metadata(&log_path).map_or(0, |m| m.len());
            let scripts: Vec<Vec<Script>> = c
                .scripts
                .iter()
                .map(|list| {
                    list.iter()
                        .map(|s| {
                            s.iter()
                                .map(|a| match a {
                                    Act::Send(b) => Act::Send(
                                        substitute(&String::from_utf8_lossy(b), ports, &env)
                                            .into_bytes(),
                                    ),
                                    other => other.clone(),
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect();
            env.origins.reset(epoch, &scripts);
            let steps: Vec<Step> = c
                .steps
                .iter()
                .map(|s| match s {
                    Step::Send(b) => Step::Send(
                        substitute(&String::from_utf8_lossy(b), ports, &env).into_bytes(),
                    ),
                    o => o.clone(),
                })
                .collect();
            let port = ports.get(c.port).copied().unwrap_or(0);
            let obs = client::run(
                c.src.map(IpAddr::V4),
                SocketAddr::new(IpAddr::V4(c.ip), port),
                &steps,
                c.limit,
            );
            let recs = env.origins.records(epoch);
            let norm = Norm::new(ports, &env, norm_label);
            let mut text = render(&obs, &recs, &norm, c.mask_digits);
            if c.error_log || c.errlog {
                // nginx writes its lines before it answers; sluice's log thread may
                // lag a little: wait (bounded) until it has as many.
                let want = if norm_label == "nginx" {
                    0
                } else {
                    nginx_log_lines
                };
                let lines: Vec<String> = if c.errlog {
                    request_log_lines(&log_path, log_from, want)
                        .iter()
                        .map(|l| String::from_utf8_lossy(&norm.text(l.as_bytes())).into_owned())
                        .collect()
                } else {
                    error_log_lines(&log_path, log_start, want, &norm)
                };
                if norm_label == "nginx" {
                    nginx_log_lines = lines.len();
                }
                text.push_str("error log:\n");
                for l in &lines {
                    let _ = writeln!(text, "  {l}");
                }
            }
            runs.push((text, obs));
        }
        let (ntext, nobs) = &runs[0];
        let (stext, sobs) = &runs[1];
        let mut problems = String::new();
        if ntext != stext {
            problems.push_str(&line_diff(ntext, stext));
            if std::env::var_os("DIFF_VERBOSE").is_some() {
                let _ = write!(
                    problems,
                    "--- nginx in full:\n{ntext}--- sluice in full:\n{stext}"
                );
            }
        }
        if c.timing {
            for (i, (a, b)) in nobs.iter().zip(sobs.iter()).enumerate() {
                let (ta, tb) = (a.at.as_secs_f64(), b.at.as_secs_f64());
                if (ta - tb).abs() > 0.45 {
                    let _ = writeln!(
                        problems,
                        "  timing of observation {}: nginx {ta:.2} s, sluice {tb:.2} s",
                        i + 1
                    );
                }
            }
        }
        if std::env::var("DIFF_SHOW").is_ok_and(|f| c.name.contains(f.as_str())) {
            eprintln!("=== {}/{} (nginx):\n{ntext}", g.name, c.name);
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failures.push(format!(
                "=== {}/{}\n--- nginx did / +++ sluice did:\n{problems}",
                g.name, c.name
            ));
        }
    }
    if std::env::var_os("DIFF_KEEP_LOGS").is_some() {
        eprintln!(
            "diff: group {} nginx stderr:\n{}\nsluice stderr:\n{}",
            g.name,
            nproc.stderr(),
            sproc.stderr()
        );
    }
    drop(nproc);
    drop(sproc);
    (passed, failures, skipped_of(g))
}

/// The lines of level warn and above appended to `path` after `start`, normalised
/// (`[error] *N message, ...`: no time, no pid, connection numbers and ports replaced).
/// Waits up to 2 s for at least `want` of them.
fn error_log_lines(path: &Path, start: u64, want: usize, norm: &Norm) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let bytes = std::fs::read(path).unwrap_or_default();
        let new = bytes.get(start as usize..).unwrap_or_default();
        let text = String::from_utf8_lossy(&norm.text(new)).into_owned();
        let lines: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let at = l.find(" [")?;
                let rest = &l[at + 1..];
                let level_end = rest.find("] ")?;
                let level = &rest[1..level_end];
                if !matches!(level, "warn" | "error" | "crit" | "alert" | "emerg") {
                    return None;
                }
                // "PID#TID: *CONN message"
                let after = &rest[level_end + 2..];
                let msg = after.split_once(": ").map_or(after, |(_, m)| m);
                let msg = match msg.strip_prefix('*') {
                    Some(m) => format!("*N {}", m.split_once(' ').map_or("", |(_, r)| r)),
                    None => msg.to_string(),
                };
                Some(format!("[{level}] {msg}"))
            })
            .collect();
        if lines.len() >= want || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn skipped_of(g: &Group) -> Vec<String> {
    g.cases
        .iter()
        .filter_map(|c| {
            c.skip
                .map(|why| format!("{}/{} (out of scope: {why})", g.name, c.name))
        })
        .collect()
}

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        if std::env::var_os("DIFF_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ----- normalisation and rendering ---------------------------------------------------------

/// Replacements that make one proxy's output comparable with the other's.
struct Norm {
    ports: Vec<(String, String)>,
}

impl Norm {
    fn new(listen: &[u16], env: &Env, _label: &str) -> Norm {
        let mut ports = Vec::new();
        for (i, p) in listen.iter().enumerate() {
            ports.push((p.to_string(), format!("{{L{i}}}")));
        }
        for (i, p) in env.origins.ports.iter().enumerate() {
            ports.push((p.to_string(), format!("{{O{i}}}")));
        }
        ports.push((env.dead.to_string(), "{DEAD}".into()));
        if let Some(h) = &env.hole {
            ports.push((h.port.to_string(), "{HOLE}".into()));
        }
        Norm { ports }
    }

    /// Port numbers (whole digit runs only) → placeholders; sluice's version string →
    /// nginx's.
    fn text(&self, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
                let end = b[i..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(b.len(), |n| i + n);
                let run = &b[i..end];
                match self.ports.iter().find(|(p, _)| p.as_bytes() == run) {
                    Some((_, ph)) => out.extend_from_slice(ph.as_bytes()),
                    None => out.extend_from_slice(run),
                }
                i = end;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        let s = String::from_utf8_lossy(&out)
            .replace("sluice/0.1.0", "nginx/1.22.1")
            .replace("<center>sluice</center>", "<center>nginx</center>");
        // Keep non-UTF-8 input byte-exact.
        if std::str::from_utf8(&out).is_ok() {
            s.into_bytes()
        } else {
            out
        }
    }
}

fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// Lines of a request or raw block: split at CRLF, each line escaped.
fn lines_of(b: &[u8], indent: &str, out: &mut String) {
    let mut rest = b;
    while !rest.is_empty() {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &b""[..]),
        };
        let shown: &[u8] = if line.len() > 6
            && line[..6].eq_ignore_ascii_case(b"date: ")
            && &line[6..] != ORIGIN_DATE.as_bytes()
        {
            b"Date: <date>"
        } else {
            line
        };
        let _ = writeln!(out, "{indent}{}", esc(shown));
        if next.is_empty() && rest.len() > line.len() {
            let _ = writeln!(out, "{indent}<end: CRLF>");
        }
        rest = next;
    }
}

/// The error-log lines about requests (those naming a `request:`) written after
/// `from`, as `[level] message...` (time, pid and connection number dropped); waits up
/// to 2 s for at least `want` of them.
fn request_log_lines(path: &Path, from: u64, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let text = std::fs::read(path).unwrap_or_default();
        let new = text.get(from as usize..).unwrap_or_default();
        let lines: Vec<String> = String::from_utf8_lossy(new)
            .lines()
            .filter(|l| l.contains(", request: \""))
            .filter_map(|l| {
                let lvl = l.find(" [")?;
                let rest = &l[lvl + 1..];
                let close = rest.find("] ")?;
                let level = &rest[..=close];
                let after = &rest[close + 2..];
                // "PID#TID: *N message"
                let msg = after.split_once(": ").map_or(after, |(_, m)| m);
                let msg = match msg.strip_prefix('*') {
                    Some(m) => m.split_once(' ').map_or(m, |(_, r)| r),
                    None => msg,
                };
                Some(format!("{level} {msg}"))
            })
            .collect();
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every run of ASCII digits → `N`.
fn mask(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for (i, c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            if i == 0 || !b[i - 1].is_ascii_digit() {
                out.push(b'N');
            }
        } else {
            out.push(*c);
        }
    }
    out
}

fn render(obs: &[Timed], recs: &[Record], n: &Norm, mask_digits: bool) -> String {
    let mut out = String::new();
    // Connections, numbered per origin in order of first use.
    let mut conns: Vec<(usize, u64)> = Vec::new();
    for r in recs {
        if !conns.contains(&(r.origin, r.conn)) {
            conns.push((r.origin, r.conn));
        }
    }
    for r in recs {
        let k = conns
            .iter()
            .filter(|(o, _)| *o == r.origin)
            .position(|c| *c == (r.origin, r.conn))
            .unwrap_or(0);
        let _ = writeln!(out, "origin {} got (its connection #{k}):", r.origin);
        lines_of(&n.text(&r.bytes), "  > ", &mut out);
    }
    if recs.is_empty() {
        out.push_str("no origin got a request\n");
    }
    for (i, t) in obs.iter().enumerate() {
        let _ = write!(out, "client observation {}: ", i + 1);
        match &t.obs {
            Obs::Resp(r) => {
                out.push_str("response\n");
                let _ = writeln!(out, "  < {}", esc(&n.text(&r.status_line)));
                // `server_tokens off` pages name the program without a version, and
                // "sluice" is one byte longer than "nginx": the length follows the body.
                let body = if mask_digits {
                    mask(&n.text(&r.body))
                } else {
                    n.text(&r.body)
                };
                let shift = r.body.len() as i64 - body.len() as i64;
                for (name, v) in &r.headers {
                    let v: Vec<u8> = if mask_digits && name.eq_ignore_ascii_case(b"content-length")
                    {
                        b"N".to_vec()
                    } else if shift != 0 && name.eq_ignore_ascii_case(b"content-length") {
                        let len: i64 = String::from_utf8_lossy(v).trim().parse().unwrap_or(0);
                        (len - shift).to_string().into_bytes()
                    } else if name.eq_ignore_ascii_case(b"date") && v != ORIGIN_DATE.as_bytes() {
                        b"<date>".to_vec()
                    } else if name.eq_ignore_ascii_case(b"server") && v == b"sluice" {
                        b"nginx".to_vec()
                    } else {
                        n.text(v)
                    };
                    let _ = writeln!(out, "  < {}: {}", esc(name), esc(&v));
                }
                let _ = writeln!(
                    out,
                    "  < body ({} bytes{}): {}",
                    body.len(),
                    if r.complete { "" } else { ", cut short by EOF" },
                    esc(&body)
                );
            }
            Obs::Raw(b) => {
                let _ = writeln!(out, "raw bytes ({}):", b.len());
                lines_of(&n.text(b), "  | ", &mut out);
            }
            Obs::Nothing => out.push_str("connection closed with no response\n"),
            Obs::Closed(c) => {
                let _ = writeln!(out, "server closed the connection: {c}");
            }
            Obs::Error(e) => {
                let _ = writeln!(out, "client error: {e}");
            }
        }
    }
    out
}

/// A line diff (LCS), `-` for nginx only, `+` for sluice only, with a little context.
fn line_diff(a: &str, b: &str) -> String {
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    let (n, m) = (x.len(), y.len());
    let mut l = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if x[i] == y[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            ops.push((' ', x[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || l[i][j + 1] >= l[i + 1][j]) {
            ops.push(('+', y[j]));
            j += 1;
        } else {
            ops.push(('-', x[i]));
            i += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(3)..(k + 4).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut gap = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if *c != ' ' || near(k) {
            if gap {
                out.push_str("  ...\n");
                gap = false;
            }
            let _ = writeln!(out, "{c} {line}");
        } else {
            gap = true;
        }
    }
    out
}
