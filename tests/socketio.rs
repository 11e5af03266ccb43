//! Socket.IO through the real binary with the real `socket.io` and `socket.io-client`
//! packages from npm (`tests/socketio/`: pinned in its package.json, installed by
//! `.ci/run`, or here on first use): three nodes behind an `ip_hash` upstream with the
//! guides' recipe (SEMANTICS §5.1, §5.6, §8.4), every transport choice connecting,
//! exchanging acks, staying idle past `proxy_read_timeout` on heartbeats alone and staying
//! on one node; then the same configuration in round robin, where polling breaks exactly
//! as it does under nginx.
//!
//! The nodes (`server.js`) report what they see as JSON lines on stdout; each client
//! (`client.js`) prints one JSON line of results. Every process is stopped by a guard and
//! every wait ends by the test's budget.

use crate::harness::{self, TempDir};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the clients stay idle: longer than `proxy_read_timeout`.
const IDLE_MS: u64 = 5000;
/// `proxy_read_timeout` in the configurations, in seconds.
const READ_TIMEOUT_S: u64 = 3;
/// Socket.IO's heartbeat, shortened from 25 s / 20 s so that pings cross the 3 s timeout.
const PING_INTERVAL_MS: u64 = 1000;
const PING_TIMEOUT_MS: u64 = 2000;
/// A node that never pings within the idle period: the control for the timeout.
const QUIET_PING_MS: u64 = 20_000;
/// Every wait of one test ends within this long of its start (`npm install` aside).
const BUDGET: Duration = Duration::from_secs(45);

// ---------------------------------------------------------------------------------------
// Setup: node, npm, the packages

/// `tests/socketio/` with its packages installed, or why not. Installs them (once per
/// test binary) when `node_modules` is missing.
fn packages() -> &'static Result<PathBuf, String> {
    static PKG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PKG.get_or_init(|| {
        let dir = harness::repo().join("tests/socketio");
        let installed = |d: &Path| {
            ["socket.io", "socket.io-client"].iter().all(|p| {
                d.join("node_modules")
                    .join(p)
                    .join("package.json")
                    .is_file()
            })
        };
        if !runs("node", &["--version"]) {
            return Err("node is not on PATH".into());
        }
        if installed(&dir) {
            return Ok(dir);
        }
        if !runs("npm", &["--version"]) {
            return Err(format!(
                "{}/node_modules is missing and npm is not on PATH",
                dir.display()
            ));
        }
        eprintln!("socketio: npm install in {}", dir.display());
        let mut child = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        let end = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Ok(Some(st)) = child.try_wait() {
                break st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err("npm install did not finish within 180 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        if !status.success() || !installed(&dir) {
            return Err(format!("npm install failed ({status}):\n{err}"));
        }
        Ok(dir)
    })
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The package directory, or `None` after printing why the test is skipped. Under CI
/// (`CI` set) a missing toolchain is a failure, not a skip.
fn packages_or_skip(test: &str) -> Option<PathBuf> {
    match packages() {
        Ok(d) => Some(d.clone()),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: Socket.IO packages unavailable under CI: {why}")
        }
        Err(why) => {
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// The end of a test's budget.
struct Budget(Instant);

impl Budget {
    fn start() -> Budget {
        Budget(Instant::now() + BUDGET)
    }

    fn over(&self) -> bool {
        Instant::now() > self.0
    }
}

/// A child process, stopped when dropped: stdin closed (the node scripts exit on that),
/// SIGTERM, then SIGKILL after 2 s.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Proc {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.exited().is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(2);
            while self.exited().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.exited().is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// A Socket.IO node (`server.js`) and the events it reported.
struct Node {
    name: String,
    port: u16,
    events: Arc<Mutex<Vec<Value>>>,
    _proc: Proc,
}

impl Node {
    fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Its events named `event`, from index `from` on.
    fn named(&self, event: &str, from: usize) -> Vec<Value> {
        self.events()
            .into_iter()
            .skip(from)
            .filter(|e| e["event"] == event)
            .collect()
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

struct NodeSpec {
    name: &'static str,
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    path: &'static str,
}

fn node(name: &'static str) -> NodeSpec {
    NodeSpec {
        name,
        ping_interval_ms: PING_INTERVAL_MS,
        ping_timeout_ms: PING_TIMEOUT_MS,
        path: "/socket.io/",
    }
}

/// Starts the nodes on kernel-chosen ports and waits until each has reported its port.
fn start_nodes(pkg: &Path, dir: &Path, specs: &[NodeSpec], budget: &Budget) -> Vec<Node> {
    let mut starting = Vec::new();
    for s in specs {
        let stderr = std::fs::File::create(dir.join(format!("{}.stderr", s.name))).expect("log");
        let mut child = Command::new("node")
            .arg(pkg.join("server.js"))
            .args([
                "0",
                s.name,
                &s.ping_interval_ms.to_string(),
                &s.ping_timeout_ms.to_string(),
                s.path,
            ])
            .current_dir(pkg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn node server.js");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(v);
            }
        });
        starting.push((s.name, Proc { child, stdin }, events));
    }
    let mut nodes = Vec::new();
    for (name, mut proc, events) in starting {
        let port = loop {
            let first = events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .first()
                .cloned();
            if let Some(v) = first {
                assert_eq!(v["event"], "listening", "node {name} said first: {v}");
                break v["port"].as_u64().and_then(|p| u16::try_from(p).ok());
            }
            if let Some(st) = proc.exited() {
                panic!(
                    "node {name} exited ({st}): {}",
                    read(&dir.join(format!("{name}.stderr")))
                );
            }
            assert!(!budget.over(), "node {name} did not start");
            std::thread::sleep(Duration::from_millis(10));
        };
        nodes.push(Node {
            name: name.to_string(),
            port: port.expect("node port"),
            events,
            _proc: proc,
        });
    }
    nodes
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A proxy (sluice or nginx) on `dir/nginx.conf`, up once its port accepts.
struct Proxy {
    port: u16,
    dir: PathBuf,
    _proc: Proc,
}

impl Proxy {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The error log and whatever the process printed, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- error.log\n{}--- stderr\n{}",
            read(&self.dir.join("error.log")),
            read(&self.dir.join("stderr"))
        )
    }
}

/// The guides' configuration shape (guide 000's `/socket.io/` location, guide 002's map
/// recipe, guide 001's upstream with `ip_hash`), `proxy_read_timeout 3s`.
fn config(dir: &Path, port: u16, nodes: &[&Node], quiet: Option<&Node>, ip_hash: bool) -> String {
    let d = dir.display();
    let servers: String = nodes
        .iter()
        .map(|n| format!("        server {};\n", n.addr()))
        .collect();
    let balance = if ip_hash { "        ip_hash;\n" } else { "" };
    let location = |path: &str, upstream: &str| {
        format!(
            "        location {path} {{
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Host $host;

            proxy_pass http://{upstream};

            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout {READ_TIMEOUT_S}s;
        }}
"
        )
    };
    let (quiet_upstream, quiet_location) = match quiet {
        Some(q) => (
            format!(
                "    upstream quiet_node {{\n        server {};\n    }}\n",
                q.addr()
            ),
            location("/quiet/", "quiet_node"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;

events {{}}

http {{
    access_log off;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    upstream socket_nodes {{
{balance}{servers}    }}
{quiet_upstream}
    server {{
        listen 127.0.0.1:{port};

{}{quiet_location}    }}
}}
",
        location("/socket.io/", "socket_nodes")
    )
}

/// Starts `program` (sluice, or nginx with `oracle`) on `conf` in a directory of its own.
fn start_proxy(
    program: &Path,
    oracle: bool,
    dir: &Path,
    port: u16,
    conf: &str,
    budget: &Budget,
) -> Proxy {
    std::fs::create_dir_all(dir).expect("proxy dir");
    // nginx in one process, so that its round robin is one sequence, as sluice's is.
    let conf = if oracle {
        format!("master_process off;\n{conf}")
    } else {
        conf.to_string()
    };
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr");
    let mut cmd = Command::new(program);
    cmd.arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "nginx.conf"]);
    if oracle {
        cmd.arg("-e").arg(dir.join("error.log"));
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut p = Proxy {
        port,
        dir: dir.to_path_buf(),
        _proc: Proc { child, stdin: None },
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(st) = p._proc.exited() {
            panic!("{} exited ({st}):\n{}", program.display(), p.logs());
        }
        assert!(
            !budget.over(),
            "{} did not listen:\n{}",
            program.display(),
            p.logs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p
}

/// One `client.js` run: a label, the URL, the transports, the idle time, the path.
struct ClientSpec<'a> {
    label: String,
    url: String,
    transports: &'a str,
    idle_ms: u64,
    path: Option<&'a str>,
}

/// Runs the clients concurrently and returns their result lines, in order.
fn run_clients(pkg: &Path, dir: &Path, specs: &[ClientSpec], budget: &Budget) -> Vec<Value> {
    let mut running = Vec::new();
    for s in specs {
        let out = dir.join(format!("client-{}.out", s.label));
        let err = dir.join(format!("client-{}.err", s.label));
        let mut cmd = Command::new("node");
        cmd.arg(pkg.join("client.js"))
            .args([&s.url, s.transports, &s.idle_ms.to_string()]);
        if let Some(p) = s.path {
            cmd.arg(p);
        }
        let child = cmd
            .current_dir(pkg)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("spawn node client.js");
        running.push((s.label.as_str(), Proc { child, stdin: None }, out, err));
    }
    let mut results = Vec::new();
    for (label, mut proc, out, err) in running {
        while proc.exited().is_none() {
            assert!(
                !budget.over(),
                "client {label} still running at the end of the budget"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = read(&out);
        let line = text.lines().rev().find(|l| !l.trim().is_empty());
        let v: Value = line
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "client {label} printed no result:\n{text}\n--- stderr\n{}",
                    read(&err)
                )
            });
        results.push(v);
    }
    results
}

/// Waits (within the budget) until `cond` holds; false if it never did.
fn wait_until(budget: &Budget, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !cond() {
        if budget.over() || Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

// ---------------------------------------------------------------------------------------
// Checks

/// What a failing assertion prints: every client result, every node's events, the proxy's logs.
fn context(results: &[Value], nodes: &[Node], proxy: &Proxy) -> String {
    let mut s = String::from("--- clients\n");
    for r in results {
        s.push_str(&format!("{r}\n"));
    }
    for n in nodes {
        s.push_str(&format!("--- node {}\n", n.name));
        for e in n.events() {
            s.push_str(&format!("{e}\n"));
        }
    }
    s.push_str(&proxy.logs());
    s
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn len_of(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, Vec::len)
}

/// A client that must have stayed connected throughout on `node`, on the transports
/// given (`first` at connection, `last` at the end).
fn check_sticky(r: &Value, node: &str, first: &str, last: &str, problems: &mut Vec<String>) {
    let t = str_of(r, "transports");
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("[{t}] {what}"));
        }
    };
    check(r["ok"] == true, "did not run cleanly (ok=false)".into());
    check(r["connected"] == true, "never connected".into());
    check(
        len_of(r, "disconnects") == 0 && len_of(r, "connectErrors") == 0,
        format!(
            "disconnected: {} / {}",
            r["disconnects"], r["connectErrors"]
        ),
    );
    check(len_of(r, "acks") == 6, format!("acks: {}", r["acks"]));
    let acks = r["acks"].as_array().cloned().unwrap_or_default();
    check(
        acks.iter().all(|a| a["node"] == node),
        format!("acks not all from {node} (ip_hash, §8.4): {}", r["acks"]),
    );
    check(
        acks.iter().all(|a| a["echoed"] == true),
        "an ack did not echo its payload".into(),
    );
    check(
        acks.iter().all(|a| a["transport"] == last),
        format!(
            "the server saw another transport than {last}: {}",
            r["acks"]
        ),
    );
    check(
        str_of(r, "initialTransport") == first,
        format!("opened on {}, not {first}", r["initialTransport"]),
    );
    check(
        str_of(r, "finalTransport") == last,
        format!("ended on {}, not {last}", r["finalTransport"]),
    );
    check(
        r["upgraded"] == (first != last),
        format!("upgraded={}", r["upgraded"]),
    );
    check(
        r["socketId"].is_string()
            && r["socketId"] == r["socketIdAtEnd"]
            && r["engineId"] == r["engineIdAtEnd"],
        "the session changed during the run".into(),
    );
    // Five heartbeats at 1 s in 5 s; at least three proves they crossed the idle period.
    check(
        r["pingsWhileIdle"].as_u64().unwrap_or(0) >= 3,
        format!("only {} pings while idle", r["pingsWhileIdle"]),
    );
}

/// A polling client that must have failed on a `sid` unknown to the node it reached:
/// Engine.IO's `400 {"code":1,"message":"Session ID unknown"}`.
fn check_polling_broken(r: &Value, problems: &mut Vec<String>, who: &str) {
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("[{who}] {what}"));
        }
    };
    check(
        r["connected"] == false,
        "connected, though round robin splits the session".into(),
    );
    check(len_of(r, "acks") == 0, format!("acks: {}", r["acks"]));
    let failures: Vec<Value> = ["connectErrors", "disconnects"]
        .iter()
        .flat_map(|k| r[*k].as_array().cloned().unwrap_or_default())
        .collect();
    check(
        !failures.is_empty(),
        "neither connect_error nor disconnect".into(),
    );
    check(
        failures.iter().any(|f| {
            f["status"] == 400
                && f["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Session ID unknown"))
        }),
        format!("no 400 \"Session ID unknown\" among {failures:?}"),
    );
}

fn fail_if(problems: &[String], ctx: impl FnOnce() -> String) {
    if !problems.is_empty() {
        panic!("{}\n{}", problems.join("\n"), ctx());
    }
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn ip_hash_keeps_every_transport_on_one_node_through_idle_periods() {
    let Some(pkg) =
        packages_or_skip("ip_hash_keeps_every_transport_on_one_node_through_idle_periods")
    else {
        return;
    };
    let started = Instant::now();
    let budget = Budget::start();
    let dir = TempDir::new("socketio-sticky");
    let mut quiet = node("quiet");
    quiet.ping_interval_ms = QUIET_PING_MS;
    quiet.ping_timeout_ms = QUIET_PING_MS;
    quiet.path = "/quiet/";
    let nodes = start_nodes(
        &pkg,
        dir.path(),
        &[node("n1"), node("n2"), node("n3"), quiet],
        &budget,
    );
    let port = free_port();
    let conf = config(
        &dir.path().join("sluice"),
        port,
        &[&nodes[0], &nodes[1], &nodes[2]],
        Some(&nodes[3]),
        true,
    );
    let proxy = start_proxy(
        &harness::sluice(),
        false,
        &dir.path().join("sluice"),
        port,
        &conf,
        &budget,
    );
    let spec = |label: &str, transports, path| ClientSpec {
        label: label.to_string(),
        url: proxy.url(),
        transports,
        idle_ms: IDLE_MS,
        path,
    };
    let results = run_clients(
        &pkg,
        dir.path(),
        &[
            spec("default", "default", None),
            spec("websocket", "websocket", None),
            spec("polling", "polling", None),
            // The control: a WebSocket whose node does not ping in the idle period.
            spec("quiet", "websocket", Some("/quiet/")),
        ],
        &budget,
    );

    let mut problems = Vec::new();
    // ip_hash keys on the first three octets: for 127.0.0.1 and three equal peers nginx
    // picks the third (SEMANTICS §8.4), for every transport and every request.
    check_sticky(&results[0], "n3", "polling", "websocket", &mut problems);
    check_sticky(&results[1], "n3", "websocket", "websocket", &mut problems);
    check_sticky(&results[2], "n3", "polling", "polling", &mut problems);

    // Without heartbeats the same idle period ends the tunnel at proxy_read_timeout
    // (§5.5): the client sees "transport close" after its first acks, at >= 3 s.
    let q = &results[3];
    let closed = q["disconnects"].as_array().cloned().unwrap_or_default();
    if !(q["connected"] == true
        && len_of(q, "acks") == 3
        && q["pingsTotal"] == 0
        && closed.len() == 1
        && closed[0]["reason"] == "transport close"
        && closed[0]["atMs"]
            .as_u64()
            .is_some_and(|t| t >= READ_TIMEOUT_S * 1000 - 100))
    {
        problems.push(format!(
            "[quiet] expected a \"transport close\" at proxy_read_timeout after 3 acks: {q}"
        ));
    }

    // The nodes' side: three connections, all on n3, none on n1/n2, no unknown sid,
    // and each ended by its client (the clients wait for their disconnect to go out).
    let n3_done = wait_until(&budget, Duration::from_secs(3), || {
        nodes[2].named("disconnect", 0).len() >= 3
    });
    let by_node: Vec<(usize, usize)> = nodes[..3]
        .iter()
        .map(|n| {
            (
                n.named("connection", 0).len(),
                n.named("connection_error", 0).len(),
            )
        })
        .collect();
    if by_node != [(0, 0), (0, 0), (3, 0)] {
        problems.push(format!(
            "(connections, connection errors) per node: {by_node:?}, expected all three on n3"
        ));
    }
    let reasons: Vec<Value> = nodes[2]
        .named("disconnect", 0)
        .iter()
        .map(|e| e["reason"].clone())
        .collect();
    if !n3_done || reasons.iter().any(|r| r != "client namespace disconnect") {
        problems.push(format!(
            "n3's disconnects should be the clients' own: {reasons:?}"
        ));
    }
    fail_if(&problems, || context(&results, &nodes, &proxy));
    eprintln!("socketio ip_hash: {} s", started.elapsed().as_secs_f32());
}

#[test]
fn round_robin_breaks_polling_as_nginx_does() {
    let Some(pkg) = packages_or_skip("round_robin_breaks_polling_as_nginx_does") else {
        return;
    };
    let started = Instant::now();
    let budget = Budget::start();
    let dir = TempDir::new("socketio-rr");
    let nodes = start_nodes(
        &pkg,
        dir.path(),
        &[node("n1"), node("n2"), node("n3")],
        &budget,
    );
    let three = [&nodes[0], &nodes[1], &nodes[2]];

    let mut proxies = vec![("sluice", harness::sluice(), false)];
    match harness::nginx() {
        Some(n) => proxies.push(("nginx", n, true)),
        None => {
            eprintln!("round_robin_breaks_polling_as_nginx_does: nginx not on PATH, sluice only")
        }
    }
    for (label, program, oracle) in proxies {
        let pdir = dir.path().join(label);
        let port = free_port();
        let conf = config(&pdir, port, &three, None, false);
        let proxy = start_proxy(&program, oracle, &pdir, port, &conf, &budget);
        let marks: Vec<usize> = nodes.iter().map(|n| n.events().len()).collect();
        let client = |transports| ClientSpec {
            label: format!("{label}-{transports}"),
            url: proxy.url(),
            transports,
            idle_ms: 0,
            path: None,
        };
        // One at a time: the round-robin sequence then decides alone where each request goes.
        let polling = run_clients(&pkg, dir.path(), &[client("polling")], &budget);
        let websocket = run_clients(&pkg, dir.path(), &[client("websocket")], &budget);
        let results = [polling[0].clone(), websocket[0].clone()];

        let mut problems = Vec::new();
        check_polling_broken(&results[0], &mut problems, label);
        let unknown = nodes.iter().zip(&marks).any(|(n, &m)| {
            n.named("connection_error", m)
                .iter()
                .any(|e| e["code"] == 1 && e["message"] == "Session ID unknown")
        });
        if !unknown {
            problems.push(format!("[{label}] no node reported \"Session ID unknown\""));
        }
        // A WebSocket-only client is one connection: it needs no stickiness (§5.6).
        let w = &results[1];
        if !(w["ok"] == true && len_of(w, "acks") == 6) {
            problems.push(format!(
                "[{label}] websocket-only under round robin failed: {w}"
            ));
        }
        fail_if(&problems, || context(&results, &nodes, &proxy));
        eprintln!(
            "socketio round robin, {label}: polling failed ({}), websocket-only ran",
            results[0]["connectErrors"][0]["message"]
        );
    }
    eprintln!(
        "socketio round robin: {} s",
        started.elapsed().as_secs_f32()
    );
}
