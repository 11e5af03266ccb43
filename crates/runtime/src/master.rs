//! `user`/`group` (SEMANTICS §11): started as root with `master_process on` (the
//! default), sluice splits as nginx does into a master that stays root and one serving
//! process that runs as the configured user (`nobody`/`nogroup` without a `user`
//! directive: nginx's defaults).
//!
//! The master serves nothing. It checks the configuration and binds the listeners (so
//! that errors are reported, and `daemon on` detaches, only once they are bound), gives
//! the log files to the user (nginx's master does so with `ngx_reopen_files(cycle, user)`;
//! the serving process then opens them by name), then starts the serving process: the
//! same binary and arguments again, marked by [`SERVING_ENV`], its standard input a unix
//! socket to the master. The master sends the bound listeners over it (`SCM_RIGHTS`,
//! received as owned descriptors through rustix, so no `unsafe`); they stay bound
//! throughout. The serving process tells the master with SIGUSR2 and drops its
//! privileges (`setgid`, `initgroups`, `setuid`, as `ngx_worker_process_init()`); only
//! then does the master write the pid file. Signals the master relays before the
//! serving process handles them wait (blocked) until it does.
//!
//! Afterwards the master passes every signal on: HUP after re-checking the configuration
//! as root (a configuration that fails is logged by the master, as nginx's, and the
//! serving process never sees the HUP), preparing the log files it names and binding,
//! as root, every listener of it that nobody holds yet (privileged ports included),
//! which it sends before the signal; USR1 after opening the log files anew (a renamed
//! log is replaced by a new file owned by the user, as nginx's master creates it);
//! QUIT/TERM/INT as they are. It removes the pid file and exits with the serving
//! process's status once that ends; the serving process ends with the master
//! (`PR_SET_PDEATHSIG`).
//!
//! The serving process reloads in place, as without a master (tunnels survive; there is
//! never a second serving process), taking the sockets the master sent instead of
//! binding. What stays unprivileged: it reads the configuration and the certificates of
//! a reload itself, so a certificate or key only root can read fails the reload like a
//! broken configuration (the old one keeps serving, the error is logged in nginx's
//! words); nginx's master reads them as root.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use sluice_compiler::table::{ListenAddr, RoutingTable};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Set in the serving process's environment by its master.
pub const SERVING_ENV: &str = "SLUICE_SERVING_PROCESS";

/// Re-checks the configuration (as root, on HUP): its table and the log files it
/// names, or the first error in nginx's words.
pub type Recheck = Box<dyn Fn() -> Result<(RoutingTable, Vec<PathBuf>), String> + Send + Sync>;

/// Who the serving process runs as.
pub struct Privileges {
    /// `user`'s uid.
    pub uid: Uid,
    /// `user`'s group.
    pub gid: Gid,
    /// The user's name, for `initgroups()`.
    pub user: CString,
    /// Which side of the split this process is.
    pub role: Role,
}

/// The master or the serving process.
pub enum Role {
    /// The process started by the operator.
    Master {
        /// The log files of the configuration being started (and `-e`'s).
        log_files: Vec<PathBuf>,
        /// The log files of the configuration on disk now.
        recheck: Recheck,
        /// The arguments to start the serving process with (the operator's).
        args: Vec<std::ffi::OsString>,
        /// The main error log (`None`: stderr), where a failed reload is reported.
        error_log: Option<PathBuf>,
    },
    /// Started by the master.
    Serving,
}

fn signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// The master: starts the serving process, hands it the listeners, and relays signals
/// until it ends; its exit status.
pub fn master(
    p: &Privileges,
    listeners: Vec<(SocketAddr, std::net::TcpListener)>,
    log_files: &[PathBuf],
    recheck: &Recheck,
    args: &[std::ffi::OsString],
    error_log: Option<&Path>,
    pid_file: Option<&Path>,
) -> Result<i32, String> {
    prepare_logs(log_files, p.uid);
    // A channel that keeps message boundaries, for the listening sockets; the serving
    // process reads it as its standard input.
    let (mine, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("socketpair() failed ({e})"))?;
    let set = signals();
    // Blocked before the serving process exists, so that none is lost; it inherits the
    // mask and lets them in once its handlers are installed (`handle_signals`).
    set.thread_block()
        .map_err(|e| format!("sigprocmask() failed ({e})"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the binary ({e})"))?;
    let child = std::process::Command::new(exe)
        .args(args)
        .env(SERVING_ENV, "1")
        .stdin(std::process::Stdio::from(theirs))
        .spawn()
        .map_err(|e| format!("cannot start the serving process ({e})"))?;
    let child = Pid::from_raw(child.id() as i32);
    // The master's copies close once sent: the serving process holds the sockets, which
    // stay bound throughout (no connection is refused in between).
    let _ = send_listeners(&mine, &listeners);
    drop(listeners);
    let mut logs = log_files.to_vec();
    let mut error_log = error_log.map(Path::to_path_buf);
    // Set at the serving process's SIGUSR2: before it, HUP or USR1 would kill it.
    let mut pid_written = false;
    let status = loop {
        let Ok(sig) = set.wait() else {
            continue;
        };
        match sig {
            Signal::SIGCHLD => match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => break code,
                Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
                _ => {}
            },
            Signal::SIGUSR2 => {
                // The serving process is bound and runs as the user.
                if let (Some(f), false) = (pid_file, pid_written) {
                    if let Err(e) = std::fs::write(f, format!("{}\n", std::process::id())) {
                        let code = e.raw_os_error().unwrap_or(0);
                        eprintln!(
                            "sluice: [emerg] open() \"{}\" failed ({code}: {})",
                            f.display(),
                            sluice_compiler::strerror(code)
                        );
                        let _ = kill(child, Signal::SIGTERM);
                        continue;
                    }
                    pid_written = true;
                }
            }
            Signal::SIGHUP | Signal::SIGUSR1 if !pid_written => {}
            Signal::SIGHUP => match recheck() {
                // As nginx's master: the configuration is read as root; when it fails
                // the master logs why and the serving process is not disturbed.
                Err(msg) => emerg(error_log.as_deref(), &msg),
                Ok((table, l)) => {
                    logs = l;
                    error_log = table.main.error_log.clone();
                    prepare_logs(&logs, p.uid);
                    // Every listener nobody holds yet is bound here, as root, and handed
                    // over; those the serving process holds fail with "in use" and are
                    // skipped, as are any the reload then does not take.
                    let fresh: Vec<(SocketAddr, std::net::TcpListener)> = table
                        .listeners
                        .iter()
                        .filter_map(|l| match &l.addr {
                            ListenAddr::Tcp(a) => crate::server::bind(*a, l.backlog, l.ipv6only)
                                .ok()
                                .map(|s| (*a, s)),
                            _ => None,
                        })
                        .collect();
                    let _ = send_listeners(&mine, &fresh);
                    drop(fresh);
                    let _ = kill(child, sig);
                }
            },
            Signal::SIGUSR1 => {
                prepare_logs(&logs, p.uid);
                let _ = kill(child, sig);
            }
            _ => {
                let _ = kill(child, sig);
            }
        }
    };
    if let (Some(f), true) = (pid_file, pid_written) {
        let _ = std::fs::remove_file(f);
    }
    Ok(status)
}

/// The serving process, bound and still root: tells the master it is up (a process
/// that is no longer root may not signal it), then becomes the user. The relayed
/// signals stay blocked (pending) until [`handle_signals`], once handlers exist.
pub fn become_user(p: &Privileges) {
    let _ = signals().thread_block();
    let master = nix::unistd::getppid();
    let _ = kill(master, Signal::SIGUSR2);
    drop_privileges(p);
    // Ends with the master, even a killed one. Set after the ids change, which clears
    // it; a master already gone means exiting now.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() != master {
        std::process::exit(1);
    }
}

/// Lets the relayed signals in (the serving process's handlers are installed).
pub fn handle_signals() {
    let _ = signals().thread_unblock();
}

/// One message per socket (its address as text, the descriptor attached), then `.`.
fn send_listeners(
    to: &OwnedFd,
    listeners: &[(SocketAddr, std::net::TcpListener)],
) -> std::io::Result<()> {
    for (addr, l) in listeners {
        let text = addr.to_string();
        let fds = [l.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        cmsg.push(SendAncillaryMessage::ScmRights(&fds));
        rustix::net::sendmsg(
            to,
            &[IoSlice::new(text.as_bytes())],
            &mut cmsg,
            SendFlags::empty(),
        )?;
    }
    rustix::net::send(to, b".", SendFlags::empty())?;
    Ok(())
}

/// The serving process's side: the listening sockets the master sent, by address, up
/// to its `.`. At start (`wait`) the master may still be sending; on HUP everything was
/// sent before the signal, so nothing is waited for.
pub fn receive_listeners(wait: bool) -> HashMap<SocketAddr, std::net::TcpListener> {
    let mut out = HashMap::new();
    let stdin = std::io::stdin();
    let from = stdin.as_fd();
    let flags = if wait {
        RecvFlags::empty()
    } else {
        RecvFlags::DONTWAIT
    };
    loop {
        let mut buf = [0u8; 128];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = RecvAncillaryBuffer::new(&mut space);
        let Ok(msg) =
            rustix::net::recvmsg(from, &mut [IoSliceMut::new(&mut buf)], &mut cmsg, flags)
        else {
            break;
        };
        let text = &buf[..msg.bytes.min(buf.len())];
        if msg.bytes == 0 || text == b"." {
            break;
        }
        let addr: Option<SocketAddr> = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok());
        for m in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                for fd in fds {
                    if let Some(a) = addr {
                        out.insert(a, std::net::TcpListener::from(fd));
                    }
                }
            }
        }
    }
    out
}

/// An `[emerg]` line in the error log, with the master's pid.
fn emerg(error_log: Option<&Path>, msg: &str) {
    use std::io::Write;
    let pid = std::process::id();
    let line = format!("{} [emerg] {pid}#{pid}: {msg}\n", crate::time_now());
    match error_log {
        Some(f) => {
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
            {
                let _ = file.write_all(line.as_bytes());
            }
        }
        None => eprint!("{line}"),
    }
}

/// Opens (creating) each log file as root and gives it to the user, with owner read and
/// write permission (`ngx_reopen_files()` with a user).
fn prepare_logs(files: &[PathBuf], uid: Uid) {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f)
        else {
            continue;
        };
        let _ = nix::unistd::fchown(&file, Some(uid), None);
        if let Ok(m) = file.metadata() {
            let mode = m.permissions().mode();
            if mode & 0o600 != 0o600 {
                let _ = file.set_permissions(std::fs::Permissions::from_mode(mode | 0o600));
            }
        }
    }
}

/// `ngx_worker_process_init()`: `setgid`, `initgroups`, `setuid`, each failure fatal
/// with nginx's message (exit status 2, as a worker that cannot start).
fn drop_privileges(p: &Privileges) {
    let fail = |what: String, e: nix::Error| -> ! {
        eprintln!(
            "sluice: [emerg] {what} failed ({}: {})",
            e as i32,
            sluice_compiler::strerror(e as i32)
        );
        std::process::exit(2);
    };
    if let Err(e) = nix::unistd::setgid(p.gid) {
        fail(format!("setgid({})", p.gid), e);
    }
    if let Err(e) = nix::unistd::initgroups(&p.user, p.gid) {
        fail(
            format!("initgroups({}, {})", p.user.to_string_lossy(), p.gid),
            e,
        );
    }
    if let Err(e) = nix::unistd::setuid(p.uid) {
        fail(format!("setuid({})", p.uid), e);
    }
}
