//! Running sluice like nginx (SEMANTICS §11): the command contract nginx's own test suite
//! relies on, the pid file, daemon mode, signals (`-s reload|reopen|stop|quit`), reload
//! with a broken configuration, and bind errors in nginx's words.

use crate::harness::{body, free_port, stop, wait_for, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Up: the port accepts and the pid file holds a pid (the kernel queues connections as
/// soon as the socket listens, which is a moment before the pid file is written).
fn ready(dir: &Path, port: u16) -> bool {
    wait_for(Duration::from_secs(10), || {
        accepts(port)
            && std::fs::read_to_string(dir.join("logs/nginx.pid")).is_ok_and(|s| s.ends_with('\n'))
    })
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Sends raw bytes and reads the reply until the peer closes (the requests here ask
/// for `Connection: close` or are HTTP/1.0).
fn exchange(port: u16, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(port: u16, path: &str) -> String {
    exchange(
        port,
        format!("GET {path} HTTP/1.0\r\nHost: t\r\n\r\n").as_bytes(),
    )
}

/// A sluice process, stopped (TERM, then KILL) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.0, Duration::from_secs(2));
    }
}

fn start(dir: &Path, extra: &[&str]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "nginx.conf"])
        .args(extra);
    Running(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice"),
    )
}

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "nginx.conf"])
        .args(args)
        .output()
        .expect("run sluice")
}

/// [`sluice`], which must succeed (its stderr otherwise).
fn sluice_ok(dir: &Path, args: &[&str]) {
    let out = sluice(dir, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("signal");
}

fn conf(port: u16, text: &str, extra_http: &str) -> String {
    format!(
        "daemon off;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log logs/access.log;\n{extra_http}    server {{\n        listen 127.0.0.1:{port};\n        location / {{ return 200 \"{text}\"; }}\n    }}\n}}\n"
    )
}

fn prefix_dir(label: &str) -> TempDir {
    let d = TempDir::new(label);
    std::fs::create_dir_all(d.path().join("logs")).expect("logs");
    d
}

#[test]
fn nginx_test_suite_command_contract() {
    // `sluice -p DIR/ -c nginx.conf -e error.log` with `daemon off;`: binds, writes the pid
    // file, stays in the foreground, creates error.log, serves an HTTP/1.0 request with
    // LF-only line ends, and exits 0 on QUIT, removing the pid file.
    let d = prefix_dir("contract");
    let port = free_port();
    std::fs::write(d.path().join("nginx.conf"), conf(port, "one", "")).expect("conf");
    let mut p = start(d.path(), &["-e", "error.log"]);
    assert!(ready(d.path(), port), "sluice did not start");
    let pid_file = d.path().join("logs/nginx.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid").trim(),
        p.0.id().to_string()
    );
    assert!(
        d.path().join("error.log").exists(),
        "-e creates the error log"
    );
    let r = exchange(port, b"GET / HTTP/1.0\nHost: t\n\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert_eq!(body(&r), "one");
    signal(p.0.id(), nix::sys::signal::Signal::SIGQUIT);
    assert!(
        wait_for(Duration::from_secs(5), || matches!(
            p.0.try_wait(),
            Ok(Some(_))
        )),
        "QUIT did not stop it"
    );
    let status = p.0.wait().expect("status");
    assert_eq!(status.code(), Some(0));
    assert!(!pid_file.exists(), "the pid file is removed on exit");
}

#[test]
fn term_stops_within_a_second() {
    let d = prefix_dir("term");
    let port = free_port();
    std::fs::write(d.path().join("nginx.conf"), conf(port, "x", "")).expect("conf");
    let mut p = start(d.path(), &[]);
    assert!(wait_for(Duration::from_secs(10), || accepts(port)));
    // An idle keep-alive client must not hold TERM up.
    let _idle = TcpStream::connect(("127.0.0.1", port)).expect("idle client");
    let t0 = Instant::now();
    signal(p.0.id(), nix::sys::signal::Signal::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(1), || matches!(
            p.0.try_wait(),
            Ok(Some(_))
        )),
        "TERM took {:?}",
        t0.elapsed()
    );
}

#[test]
fn daemon_mode_detaches_after_binding() {
    let d = prefix_dir("daemon");
    let port = free_port();
    let text = conf(port, "daemon", "").replace("daemon off;\n", "");
    std::fs::write(d.path().join("nginx.conf"), text).expect("conf");
    // Not `output()`: the daemon keeps the inherited descriptors, so pipes would stay open.
    let mut launcher = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", d.path().display()))
        .args(["-c", "nginx.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("launch");
    // The launcher returns only once the listeners are bound, with status 0.
    assert!(
        wait_for(Duration::from_secs(10), || matches!(
            launcher.try_wait(),
            Ok(Some(_))
        )),
        "the launcher returned"
    );
    assert_eq!(launcher.wait().expect("status").code(), Some(0));
    assert!(accepts(port), "listening when the launcher returns");
    let pid_file = d.path().join("logs/nginx.pid");
    assert!(wait_for(Duration::from_secs(2), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| !s.trim().is_empty())
    }));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    assert_eq!(body(&get(port, "/")), "daemon");
    let stop = sluice(d.path(), &["-s", "stop"]);
    assert_eq!(stop.status.code(), Some(0));
    let gone = wait_for(Duration::from_secs(3), || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
    });
    assert!(gone, "the daemon {pid} stopped");
}

#[test]
fn reload_with_broken_config_keeps_serving_the_old_one() {
    let d = prefix_dir("reload");
    let port = free_port();
    let conf_path = d.path().join("nginx.conf");
    std::fs::write(&conf_path, conf(port, "old", "")).expect("conf");
    let _p = start(d.path(), &["-e", "logs/error.log"]);
    assert!(ready(d.path(), port));
    assert_eq!(body(&get(port, "/")), "old");

    std::fs::write(&conf_path, conf(port, "new", "    bogus;\n")).expect("broken conf");
    let r = sluice(d.path(), &["-s", "reload"]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "-s reload checks the config first"
    );
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert_eq!(
        err,
        format!(
            "sluice: [emerg] unknown directive \"bogus\" in {}:6\n",
            conf_path.display()
        )
    );
    // A HUP sent directly: the error goes to the error log; the old config keeps serving.
    let pid: u32 = std::fs::read_to_string(d.path().join("logs/nginx.pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    signal(pid, nix::sys::signal::Signal::SIGHUP);
    let log = d.path().join("logs/error.log");
    let want = format!(
        "[emerg] {pid}#{pid}: unknown directive \"bogus\" in {}:6",
        conf_path.display()
    );
    assert!(
        wait_for(Duration::from_secs(3), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains(&want))),
        "error log: {:?}",
        std::fs::read_to_string(&log)
    );
    assert_eq!(body(&get(port, "/")), "old");

    std::fs::write(&conf_path, conf(port, "new", "")).expect("fixed conf");
    let r = sluice(d.path(), &["-s", "reload"]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        wait_for(Duration::from_secs(3), || body(&get(port, "/")) == "new"),
        "new config applied"
    );
}

#[test]
fn reload_adds_and_removes_listeners() {
    let d = prefix_dir("listeners");
    let (p1, p2) = (free_port(), free_port());
    let conf_path = d.path().join("nginx.conf");
    let one = conf(p1, "a", "");
    let two = one.replace(
        "    server {",
        &format!("    server {{\n        listen 127.0.0.1:{p2};\n        location /b {{ return 200 \"b\"; }}\n    }}\n    server {{"),
    );
    std::fs::write(&conf_path, &one).expect("conf");
    let _p = start(d.path(), &[]);
    assert!(ready(d.path(), p1));
    assert!(!accepts(p2));
    std::fs::write(&conf_path, &two).expect("conf 2");
    assert_eq!(sluice(d.path(), &["-s", "reload"]).status.code(), Some(0));
    assert!(
        wait_for(Duration::from_secs(3), || accepts(p2)),
        "the added listener is bound"
    );
    assert_eq!(body(&get(p2, "/b")), "b");
    // A connection to the kept listener, open across the reload, still works after it.
    std::fs::write(&conf_path, &one).expect("conf 1 again");
    assert_eq!(sluice(d.path(), &["-s", "reload"]).status.code(), Some(0));
    assert!(
        wait_for(Duration::from_secs(3), || !accepts(p2)),
        "the removed listener is closed"
    );
    assert_eq!(body(&get(p1, "/")), "a");
}

#[test]
fn reopen_moves_the_access_log_to_a_new_file() {
    let d = prefix_dir("reopen");
    let port = free_port();
    std::fs::write(d.path().join("nginx.conf"), conf(port, "x", "")).expect("conf");
    let _p = start(d.path(), &[]);
    assert!(ready(d.path(), port));
    let log = d.path().join("logs/access.log");
    let old = d.path().join("logs/access.log.1");
    get(port, "/first");
    assert!(wait_for(Duration::from_secs(3), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("/first"))
    }));
    std::fs::rename(&log, &old).expect("rename");
    get(port, "/second");
    assert_eq!(sluice(d.path(), &["-s", "reopen"]).status.code(), Some(0));
    assert!(
        wait_for(Duration::from_secs(3), || log.exists()),
        "a new access.log"
    );
    // As root, the master creates the new file before the serving process reopens (as
    // nginx's master does): requests until one is logged in the new file.
    let mut sent = 0;
    assert!(wait_for(Duration::from_secs(5), || {
        sent += 1;
        get(port, &format!("/third-{sent}"));
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("/third-"))
    }));
    assert!(wait_for(Duration::from_secs(3), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&format!("/third-{sent} ")))
    }));
    let before = std::fs::read_to_string(&old).expect("old log");
    let after = std::fs::read_to_string(&log).expect("new log");
    // Nothing is lost: lines written before USR1 are in the renamed file, and every
    // later request is in exactly one of the two.
    assert!(
        before.contains("/first") && before.contains("/second"),
        "{before}"
    );
    assert!(!after.contains("/first") && !after.contains("/second"));
    for i in 1..=sent {
        let t = format!("/third-{i} ");
        assert!(
            before.contains(&t) != after.contains(&t),
            "{t}: {before} / {after}"
        );
    }
    assert!(!before.contains(&format!("/third-{sent} ")));
}

#[test]
fn bind_conflict_is_reported_in_nginx_words() {
    let d = prefix_dir("bind");
    let taken = TcpListener::bind("127.0.0.1:0").expect("occupy");
    let port = taken.local_addr().expect("addr").port();
    std::fs::write(d.path().join("nginx.conf"), conf(port, "x", "")).expect("conf");
    let o = sluice(d.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    let line =
        format!("sluice: [emerg] bind() to 127.0.0.1:{port} failed (98: Address already in use)\n");
    assert_eq!(
        e,
        format!("{}sluice: [emerg] still could not bind()\n", line.repeat(5))
    );
}

/// An origin on a std thread: `/slow` answers after `delay`; a request with `Upgrade`
/// gets a 101 and then its bytes echoed raw (a tunnel without WebSocket framing).
fn slow_and_upgrade_origin(delay: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("origin");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if text.contains("\r\nupgrade:") {
                    let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\n");
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                } else {
                    std::thread::sleep(delay);
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
                }
            });
        }
    });
    port
}

#[test]
fn quit_finishes_requests_and_cuts_tunnels_at_worker_shutdown_timeout() {
    let d = prefix_dir("quit");
    let port = free_port();
    let origin = slow_and_upgrade_origin(Duration::from_millis(1500));
    let text = format!(
        "daemon off;\npid logs/nginx.pid;\nworker_shutdown_timeout 3s;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            proxy_pass http://127.0.0.1:{origin};\n            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection upgrade;\n        }}\n    }}\n}}\n"
    );
    std::fs::write(d.path().join("nginx.conf"), text).expect("conf");
    let mut p = start(d.path(), &[]);
    assert!(ready(d.path(), port));

    // A tunnel, open and working.
    let mut tunnel = TcpStream::connect(("127.0.0.1", port)).expect("tunnel");
    tunnel
        .write_all(b"GET /t HTTP/1.1\r\nHost: t\r\nUpgrade: raw\r\n\r\n")
        .expect("upgrade");
    tunnel
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tunnel.read(&mut b).expect("101"), 1);
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tunnel.write_all(b"ping").expect("ping");
    let mut pong = [0u8; 4];
    tunnel.read_exact(&mut pong).expect("echo");
    assert_eq!(&pong, b"ping");

    // A request in flight (the origin answers after 1.5 s).
    let slow = std::thread::spawn(move || get(port, "/slow"));
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    signal(p.0.id(), nix::sys::signal::Signal::SIGQUIT);
    // The listening socket closes at once: new connections are refused.
    assert!(
        wait_for(Duration::from_secs(1), || !accepts(port)),
        "still accepting after QUIT"
    );
    let r = slow.join().expect("slow request");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n"),
        "the request in flight completes: {r}"
    );
    assert_eq!(body(&r), "slow");
    // The tunnel stays until worker_shutdown_timeout (3 s), then it is closed.
    let mut rest = Vec::new();
    let _ = tunnel.read_to_end(&mut rest);
    let cut = t0.elapsed();
    assert!(
        cut >= Duration::from_millis(2500) && cut <= Duration::from_millis(5000),
        "tunnel closed after {cut:?}"
    );
    assert!(
        wait_for(Duration::from_secs(3), || matches!(
            p.0.try_wait(),
            Ok(Some(_))
        )),
        "exited"
    );
    assert_eq!(p.0.wait().expect("status").code(), Some(0));
}

#[test]
fn worker_rlimit_nofile_sets_the_open_file_limit() {
    let d = prefix_dir("rlimit");
    let port = free_port();
    let text =
        conf(port, "x", "").replace("daemon off;\n", "daemon off;\nworker_rlimit_nofile 4321;\n");
    std::fs::write(d.path().join("nginx.conf"), text).expect("conf");
    let p = start(d.path(), &[]);
    assert!(ready(d.path(), port));
    let serving = crate::harness::serving_pid(p.0.id());
    let limits = std::fs::read_to_string(format!("/proc/{serving}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[3..5], &["4321", "4321"], "{line}");
}

/// A privileged port (below 1024) free right now: one only root can bind.
fn privileged_port() -> u16 {
    (600..1000)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

/// `Uid:`, `Gid:` and `Groups:` of a process, as /proc shows them.
fn ids(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.uid())
}

/// Root needed: says so and passes, except under CI where the tests run as root.
fn need_root(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} needs root, and CI runs as root"
    );
    eprintln!("not root: skipped {what}");
    false
}

fn user_conf(port: u16, text: &str, access: &str) -> String {
    format!(
        "user nobody nogroup;\ndaemon off;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log {access};\n    server {{\n        listen 127.0.0.1:{port};\n        location / {{ return 200 \"{text}\"; }}\n    }}\n}}\n"
    )
}

#[test]
fn user_runs_the_serving_process_unprivileged_on_a_privileged_port() {
    if !need_root("the user/group test") {
        return;
    }
    let nobody = [
        "Uid: 65534 65534 65534 65534",
        "Gid: 65534 65534 65534 65534",
        "Groups: 65534",
    ];
    let d = prefix_dir("user");
    let port = privileged_port();
    let conf_path = d.path().join("nginx.conf");
    std::fs::write(&conf_path, user_conf(port, "one", "logs/access.log")).expect("conf");
    let mut p = start(d.path(), &[]);
    assert!(ready(d.path(), port), "sluice did not start");
    // The pid file holds the master (the process started), which stays root; its one
    // child serves, as nobody:nogroup.
    let master = p.0.id();
    let pid_file = d.path().join("logs/nginx.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid").trim(),
        master.to_string()
    );
    let serving = crate::harness::serving_pid(master);
    assert_ne!(serving, master, "no serving process under the master");
    assert_eq!(ids(serving), nobody, "the serving process's ids");
    assert!(
        ids(master)[0].starts_with("Uid: 0 0 0 0"),
        "{:?}",
        ids(master)
    );
    // Live nginx on the same configuration: its worker has the same ids.
    if let Some(nginx) = crate::harness::nginx() {
        let nd = prefix_dir("user-nginx");
        let nport = privileged_port();
        std::fs::write(
            nd.path().join("nginx.conf"),
            user_conf(nport, "one", "logs/access.log"),
        )
        .expect("conf");
        let n = Running(
            Command::new(nginx)
                .arg("-p")
                .arg(format!("{}/", nd.path().display()))
                .args(["-c", "nginx.conf"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx"),
        );
        assert!(ready(nd.path(), nport), "nginx did not start");
        // nginx's master listens before it forks the worker, and the worker drops its
        // ids only once running: wait for a worker whose ids are no longer the master's.
        let master = n.0.id();
        let mut worker = master;
        let settled = wait_for(Duration::from_secs(10), || {
            worker = crate::harness::serving_pid(master);
            worker != master && ids(worker) != ids(master)
        });
        assert!(settled, "nginx's worker did not start");
        assert_eq!(
            ids(worker),
            ids(serving),
            "nginx's worker and sluice's serving process"
        );
    }
    // Served on the privileged port, logged (the log files belong to the user).
    assert_eq!(body(&get(port, "/")), "one");
    let access = d.path().join("logs/access.log");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&access).is_ok_and(|s| s.lines().count() == 1)
    }));
    assert_eq!(owner(&access), Some(65534));
    // Reload: the same serving process takes the new configuration, including an access
    // log the master creates for it.
    std::fs::write(&conf_path, user_conf(port, "two", "logs/access2.log")).expect("conf");
    sluice_ok(d.path(), &["-s", "reload"]);
    assert!(
        wait_for(Duration::from_secs(5), || body(&get(port, "/")) == "two"),
        "the reload did not take"
    );
    assert_eq!(
        crate::harness::serving_pid(master),
        serving,
        "still one serving process"
    );
    let access2 = d.path().join("logs/access2.log");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&access2).is_ok_and(|s| !s.is_empty())
    }));
    assert_eq!(owner(&access2), Some(65534));
    // USR1 after renaming the log: the master creates the new file for the user (as
    // nginx's master does), the serving process writes there.
    std::fs::rename(&access2, d.path().join("logs/access2.old")).expect("rename");
    sluice_ok(d.path(), &["-s", "reopen"]);
    let error_log = d.path().join("logs/error.log");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&error_log).is_ok_and(|l| l.contains("(SIGUSR1) received"))
    }));
    assert_eq!(owner(&access2), Some(65534));
    assert_eq!(body(&get(port, "/")), "two");
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&access2).is_ok_and(|s| s.lines().count() == 1)
    }));
    // A reload that adds a privileged port: the root master binds it and hands it to the
    // serving process (which could not bind it), as nginx's master does for new workers.
    let port2 = privileged_port();
    let two_ports = user_conf(port, "three", "logs/access2.log").replace(
        &format!("listen 127.0.0.1:{port};"),
        &format!("listen 127.0.0.1:{port};\n        listen 127.0.0.1:{port2};"),
    );
    std::fs::write(&conf_path, two_ports).expect("conf");
    sluice_ok(d.path(), &["-s", "reload"]);
    assert!(
        wait_for(Duration::from_secs(5), || body(&get(port, "/")) == "three"),
        "the reload did not take: {:?}",
        std::fs::read_to_string(&error_log)
    );
    assert_eq!(
        body(&get(port2, "/")),
        "three",
        "the new privileged port serves"
    );
    assert_eq!(
        crate::harness::serving_pid(master),
        serving,
        "still one serving process"
    );
    assert_eq!(ids(serving), nobody, "still unprivileged");
    let log = std::fs::read_to_string(&error_log).expect("error.log");
    assert!(
        log.contains("[notice]") && log.contains("(SIGHUP) received"),
        "{log}"
    );
    // QUIT: the serving process finishes, the master removes the pid file and exits 0.
    signal(master, nix::sys::signal::Signal::SIGQUIT);
    assert!(
        wait_for(Duration::from_secs(5), || matches!(
            p.0.try_wait(),
            Ok(Some(_))
        )),
        "QUIT did not stop it"
    );
    assert_eq!(p.0.wait().expect("status").code(), Some(0));
    assert!(!pid_file.exists(), "the pid file is removed on exit");
    assert!(
        !std::path::Path::new(&format!("/proc/{serving}")).exists()
            || std::fs::read_to_string(format!("/proc/{serving}/status"))
                .is_ok_and(|s| s.contains("State:\tZ")),
        "the serving process is gone"
    );
}

#[test]
fn root_without_user_serves_as_nobody_and_master_process_off_stays_root() {
    if !need_root("the default-user test") {
        return;
    }
    // nginx's defaults: `user nobody nogroup` when started as root.
    let d = prefix_dir("nouser");
    let port = free_port();
    std::fs::write(d.path().join("nginx.conf"), conf(port, "x", "")).expect("conf");
    let p = start(d.path(), &[]);
    assert!(ready(d.path(), port));
    let serving = crate::harness::serving_pid(p.0.id());
    assert_ne!(serving, p.0.id());
    assert_eq!(ids(serving)[0], "Uid: 65534 65534 65534 65534");
    drop(p);
    // `master_process off`: nginx's single process keeps root; so does sluice's.
    let d = prefix_dir("nomaster");
    let port = free_port();
    let text = conf(port, "x", "").replace("daemon off;\n", "daemon off;\nmaster_process off;\n");
    std::fs::write(d.path().join("nginx.conf"), text).expect("conf");
    let p = start(d.path(), &[]);
    assert!(ready(d.path(), port));
    assert_eq!(crate::harness::serving_pid(p.0.id()), p.0.id());
    assert_eq!(ids(p.0.id())[0], "Uid: 0 0 0 0");
}
