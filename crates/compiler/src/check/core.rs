//! Main and events context: `user`, `worker_processes`, `load_module`, `error_log`,
//! `pid`, `events`, `use`, `worker_connections`, `http`; and the checks nginx makes
//! after "syntax is ok" (`events` present, pid file, log files).

use super::{at, http::HttpState, os_error, Checker, Ctx, Level_, R};
use crate::registry::Spec;
use sluice_parser::ast::Directive;
use sluice_parser::units::parse_number;
use sluice_parser::FileId;
use std::path::PathBuf;

/// What the main context set.
#[derive(Default)]
pub(crate) struct MainState {
    pub events: bool,
    pub pid: Option<PathBuf>,
    /// Files to open after "syntax is ok" (error and access logs), with the place that
    /// named them.
    pub log_files: Vec<(PathBuf, Option<(FileId, u32)>)>,
    pub user_set: bool,
    /// `worker_connections` (512 unless set).
    pub worker_connections: Option<usize>,
}

/// Debian's `--pid-path`.
pub const DEFAULT_PID: &str = "/run/nginx.pid";

const LOG_LEVELS: &[&str] = &[
    "stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
];

impl Checker<'_> {
    pub(super) fn core_handler(
        &mut self,
        spec: &'static Spec,
        d: &Directive,
        cx: Ctx,
        level: &mut Level_,
    ) -> Option<R> {
        let a = |i: usize| d.args.get(i).map(|w| w.value.as_str()).unwrap_or("");
        Some(match (spec.name, cx) {
            ("user", Ctx::Main) => self.user(d, level),
            ("worker_processes", Ctx::Main) => {
                if !level.seen.insert("worker_processes") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                if a(0) != "auto" && parse_number(a(0)).is_none() {
                    return Some(Err(self.directive_err(d, "invalid value")));
                }
                Ok(())
            }
            ("load_module", Ctx::Main) => self.load_module(d),
            ("error_log", _) => self.error_log(d),
            ("pid", Ctx::Main) => {
                if let Err(e) = self.slot(spec, d, level) {
                    return Some(Err(e));
                }
                self.main.pid = Some(self.prefix_path(a(0)));
                Ok(())
            }
            ("events", Ctx::Main) => {
                if self.main.events {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                self.main.events = true;
                self.walk_block(d, Ctx::Events)
            }
            ("use", Ctx::Events) => {
                if !level.seen.insert("use") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                if !matches!(a(0), "epoll" | "poll" | "select") {
                    return Some(Err(
                        self.emerg(format!("invalid event type \"{}\"", a(0)), at(d))
                    ));
                }
                Ok(())
            }
            ("worker_connections", Ctx::Events) => {
                if !level.seen.insert("worker_connections") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                let Some(n) = parse_number(a(0)) else {
                    return Some(Err(
                        self.emerg(format!("invalid number \"{}\"", a(0)), at(d))
                    ));
                };
                self.main.worker_connections = Some(n as usize);
                Ok(())
            }
            ("http", Ctx::Main) => {
                if self.http.is_some() {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                let mut hs = HttpState::default();
                hs.close = d.block.as_ref().map(|b| (d.span.file, b.close_line));
                self.http = Some(hs);
                match self.walk_block(d, Ctx::Http) {
                    Ok(()) => self.http_end(),
                    Err(e) => Err(e),
                }
            }
            _ => return None,
        })
    }

    /// `user name [group]` (`ngx_set_user`): looked up at once; without a group, the
    /// group of the same name. Not root: nginx warns and ignores it.
    fn user(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("user") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        self.main.user_set = true;
        if !nix::unistd::geteuid().is_root() {
            self.warn(
                "the \"user\" directive makes sense only if the master process runs with super-user privileges, ignored",
                Some(at(d)),
            );
            return Ok(());
        }
        let user = d.args[0].value.as_str();
        let group = d.args.get(1).map_or(user, |w| w.value.as_str());
        if !matches!(nix::unistd::User::from_name(user), Ok(Some(_))) {
            return Err(self.emerg(format!("getpwnam(\"{user}\") failed"), at(d)));
        }
        if !matches!(nix::unistd::Group::from_name(group), Ok(Some(_))) {
            return Err(self.emerg(format!("getgrnam(\"{group}\") failed"), at(d)));
        }
        Ok(())
    }

    /// `load_module`: sluice loads no C code, but the file must be there as nginx's
    /// `dlopen()` would need it; the module's directives then become known.
    fn load_module(&mut self, d: &Directive) -> R {
        let path = self.prefix_path(&d.args[0].value);
        let shown = path.display().to_string();
        if let Err(e) = std::fs::File::open(&path) {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                _ => super::strerror(e.raw_os_error().unwrap_or(0)),
            };
            let msg = format!(
                "dlopen() \"{shown}\" failed ({shown}: cannot open shared object file: {reason})"
            );
            return Err(self.emerg(msg, at(d)));
        }
        let base = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let known = crate::registry::DIRECTIVES
            .iter()
            .any(|s| s.dynamic == Some(base.as_str()));
        if !known {
            let msg =
                format!("module \"{shown}\" is not known to sluice; its directives stay unknown");
            self.diags.push(
                sluice_parser::Diagnostic::new(sluice_parser::Level::Warn, msg, Some(at(d)))
                    .with_rule("unknown-module"),
            );
        }
        self.loaded.insert(base);
        Ok(())
    }

    /// `error_log FILE [LEVEL]`.
    fn error_log(&mut self, d: &Directive) -> R {
        let file = d.args[0].value.as_str();
        if let Some(lvl) = d.args.get(1) {
            if !LOG_LEVELS[1..].contains(&lvl.value.as_str()) {
                return Err(self.emerg(format!("invalid log level \"{}\"", lvl.value), at(d)));
            }
        }
        if d.args.len() > 2 {
            return Err(self.emerg(format!("invalid log level \"{}\"", d.args[2].value), at(d)));
        }
        if file != "stderr" && !file.starts_with("syslog:") && !file.starts_with("memory:") {
            let path = self.prefix_path(file);
            self.main.log_files.push((path, Some(at(d))));
        }
        Ok(())
    }

    /// The checks after "syntax is ok" (`ngx_init_cycle()` after parsing).
    pub(super) fn after_parse(&mut self) -> R {
        if !self.main.events {
            return Err(self.emerg_nowhere("no \"events\" section in configuration"));
        }
        // `ngx_event_init_conf()`: each worker needs a connection per listening socket
        // plus one for the channel to the master.
        let n = self.main.worker_connections.unwrap_or(512);
        let sockets = self.listening_sockets();
        if n < sockets + 1 {
            return Err(self.emerg_nowhere(format!(
                "{n} worker_connections are not enough for {sockets} listening sockets"
            )));
        }
        if self.opts.touch_system {
            self.open_files()?;
        }
        // Shared memory zones are created last; one that was only ever used has no size.
        let zero = self
            .http
            .as_ref()
            .and_then(|hs| hs.shm.iter().find(|z| z.1 == 0))
            .map(|z| z.0.clone());
        if let Some(name) = zero {
            return Err(self.emerg_nowhere(format!("zero size shared memory zone \"{name}\"")));
        }
        Ok(())
    }

    /// How many sockets the http listens make (`ngx_http_optimize_servers()`): per
    /// family and port, a wildcard address takes in the other addresses except those
    /// with `bind` (and options, which imply it); without a wildcard each address has
    /// its own socket.
    fn listening_sockets(&self) -> usize {
        let Some(hs) = &self.http else {
            return 0;
        };
        let mut addrs: Vec<&super::http::Listen> = Vec::new();
        for s in &hs.servers {
            for (l, _) in &s.listens {
                if !addrs.iter().any(|a| a.addr == l.addr) {
                    addrs.push(l);
                }
            }
        }
        let key = |l: &super::http::Listen| -> (bool, bool, u16) {
            (l.addr.starts_with('['), l.addr.starts_with("unix:"), l.port)
        };
        addrs
            .iter()
            .filter(|l| {
                if l.addr.starts_with("unix:") || l.wildcard || l.bind {
                    return true;
                }
                !addrs.iter().any(|w| w.wildcard && key(w) == key(l))
            })
            .count()
    }

    /// The pid file and the log files, as `-t` opens them.
    fn open_files(&mut self) -> R {
        // nginx -t creates the pid file (empty) if it is missing; a server writes it
        // after binding instead.
        if !self.opts.want_tree {
            let pid = self
                .main
                .pid
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PID));
            if let Err(e) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&pid)
            {
                let msg = format!("open() \"{}\" failed ({})", pid.display(), os_error(&e));
                return Err(self.emerg_nowhere(msg));
            }
        }
        for (path, _) in self.main.log_files.clone() {
            if let Err(e) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                let msg = format!("open() \"{}\" failed ({})", path.display(), os_error(&e));
                return Err(self.emerg_nowhere(msg));
            }
        }
        Ok(())
    }
}
