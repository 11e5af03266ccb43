//! The two proxies under comparison, as child processes: started on a config written to
//! a group's directory, waited for until every listen port accepts (polling with a
//! deadline), and stopped by a Drop guard (SIGTERM, then SIGKILL after a bounded wait).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nginx` from PATH, if it is there and runs.
pub fn nginx_on_path() -> Option<PathBuf> {
    crate::harness::nginx()
}

/// A port nothing listens on right now (bound to `127.0.0.1:0`, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

/// A listener whose accept queue is full and is never accepted from: connecting to it
/// hangs (the kernel drops the SYNs), which is how `proxy_connect_timeout` is exercised
/// on loopback (SEMANTICS §9: "a full-backlog listener").
pub struct BlackHole {
    _listener: socket2::Socket,
    _fillers: Vec<TcpStream>,
    pub port: u16,
}

impl BlackHole {
    pub fn new() -> std::io::Result<BlackHole> {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        s.listen(0)?;
        let port = s
            .local_addr()?
            .as_socket()
            .map_or(0, |a: SocketAddr| a.port());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut fillers = Vec::new();
        // Backlog 0 holds one established connection; the next SYNs are dropped.
        for _ in 0..2 {
            if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                fillers.push(c);
            }
        }
        Ok(BlackHole {
            _listener: s,
            _fillers: fillers,
            port,
        })
    }
}

/// A running proxy.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` with nginx's switches on `dir/conf` and waits until every port in
    /// `ports` accepts.
    pub fn start(
        label: &'static str,
        program: &Path,
        dir: &Path,
        conf: &str,
        ports: &[(std::net::IpAddr, u16)],
    ) -> Result<Proc, String> {
        let d = dir.display();
        let globals = if label == "nginx" {
            format!(
                "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/nginx-error.log info;"
            )
        } else {
            format!("daemon off; pid {d}/sluice.pid; error_log {d}/sluice-error.log info;")
        };
        let log = dir.join(format!("{label}.stderr"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .arg("-p")
            .arg(format!("{d}/"))
            .arg("-c")
            .arg(conf)
            .arg("-g")
            .arg(globals)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e}"))?;
        let mut p = Proc { child, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        for (ip, port) in ports {
            let addr = SocketAddr::new(*ip, *port);
            loop {
                if let Ok(Some(st)) = p.child.try_wait() {
                    return Err(format!(
                        "{label} exited ({st}) before listening on {addr}:\n{}",
                        p.stderr()
                    ));
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{label} did not listen on {addr} within 10 s:\n{}",
                        p.stderr()
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(p)
    }

    /// What it printed.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
