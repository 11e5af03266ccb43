//! Helpers for the end-to-end tests: the built `sluice` binary, the installed `nginx`
//! (when there is one), throw-away directories, and the normalisation that makes the
//! two programs' `-t` output comparable.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `sluice` binary cargo built for this test run.
pub fn sluice() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sluice"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `nginx` from PATH, if it is there and runs.
pub fn nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("nginx"))
        .find(|p| {
            p.is_file()
                && Command::new(p)
                    .arg("-v")
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
}

/// [`nginx`] for a differential test; `None` (after saying so) when there is none, which
/// fails the test under CI.
pub fn nginx_or_skip() -> Option<PathBuf> {
    let nginx = nginx();
    if nginx.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx must be on PATH under CI"
        );
        eprintln!("nginx not on PATH: compared with the recorded expectations only");
    }
    nginx
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The body of the HTTP response `resp` (what follows the blank line).
pub fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Stops `child`: SIGTERM (so nginx's master takes its workers down too), SIGKILL if it
/// is still running after `grace`; then reaps it. For the Drop of process guards.
pub fn stop(child: &mut Child, grace: Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if !wait_for(grace, || matches!(child.try_wait(), Ok(Some(_)))) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A fresh directory under the system temp dir, removed on drop (no `tempfile` crate).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sluice-e2e-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Copies a directory tree (files and subdirectories) into `to`.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// What `-t` printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// stderr, lossily decoded.
    pub stderr: String,
}

/// `sluice -t -p PREFIX/ -c CONF`.
pub fn sluice_t(prefix: &Path, conf: &Path) -> TestRun {
    run_t(&sluice(), prefix, conf, None)
}

/// `nginx -t -p PREFIX/ -c CONF -e ERRLOG`: with an error log file nginx echoes its
/// messages to stderr as `nginx: [level] ...`, the shape sluice prints.
pub fn nginx_t(nginx: &Path, prefix: &Path, conf: &Path, error_log: &Path) -> TestRun {
    run_t(nginx, prefix, conf, Some(error_log))
}

fn run_t(bin: &Path, prefix: &Path, conf: &Path, error_log: Option<&Path>) -> TestRun {
    let mut cmd = Command::new(bin);
    cmd.arg("-t")
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(conf);
    if let Some(e) = error_log {
        cmd.arg("-e").arg(e);
    }
    // A relative path in a message must not depend on where the tests run from.
    cmd.current_dir(std::env::temp_dir());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    TestRun {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The comparable form of a `-t` run: `exit=N`, then the stderr lines with the program
/// name turned into `sluice:`, the case directory into `{DIR}`, and sluice's own lines
/// (`... (sluice: RULE)`, its not-implemented warnings) left out.
pub fn normalise(run: &TestRun, dir: &Path) -> String {
    let dir = dir.display().to_string();
    let mut out = format!("exit={}\n", run.code);
    for line in run.stderr.lines() {
        if is_sluice_rule(line) {
            continue;
        }
        let line = match line.strip_prefix("nginx:") {
            Some(rest) => format!("sluice:{rest}"),
            None => line.to_string(),
        };
        out.push_str(&line.replace(&dir, "{DIR}"));
        out.push('\n');
    }
    out
}

/// A line sluice adds on its own: it ends in `(sluice: RULE)`.
fn is_sluice_rule(line: &str) -> bool {
    match line.rfind(" (sluice: ") {
        Some(i) => {
            let tail = &line[i + " (sluice: ".len()..];
            tail.ends_with(')') && !tail[..tail.len() - 1].contains(')')
        }
        None => false,
    }
}

/// An upstream for end-to-end tests that speaks both HTTP and WebSocket: a request with
/// `Upgrade: websocket` is accepted and echoed (after `greet(head)` is sent first, when
/// given); a plain request is answered `200` with `answer(head, path)` and closed. `head`
/// is the request head lowercased.
pub async fn ws_http_origin(
    answer: fn(&str, &str) -> String,
    greet: Option<fn(&str) -> String>,
) -> std::net::SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind origin");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut peek = [0u8; 4096];
                let n = s.peek(&mut peek).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&peek[..n]).to_ascii_lowercase();
                if head.contains("\r\nupgrade: websocket") {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    if let Some(g) = greet {
                        let _ = ws.send(Message::text(g(&head))).await;
                    }
                    while let Some(Ok(m)) = ws.next().await {
                        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                    return;
                }
                let mut s = s;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let line = String::from_utf8_lossy(&buf)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let body = answer(&head, line.split(' ').nth(1).unwrap_or("?"));
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// The process that serves for `pid`: started as root, sluice (like nginx) runs a master
/// that stays root and one serving process as the `user`; otherwise `pid` itself.
pub fn serving_pid(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|c| c.parse().ok()))
        .unwrap_or(pid)
}
