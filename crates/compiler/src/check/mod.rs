//! The checker: walks the configuration in the order nginx executes it, directive by
//! directive, following includes where they stand, and stops at the first `[emerg]`
//! as nginx does (later checks would only see a half-built configuration).
//!
//! Order of events, as in nginx 1.22.1's `ngx_init_cycle()`: every directive handler as
//! it is read (includes pasted in place); at the end of `http { }`, the post-http checks
//! (`finish.rs`: upstream hosts, certificates, location trees, `listen ... ssl`, unknown
//! variables, server names); then "syntax is ok"; then the main-level checks (`events`),
//! the pid file and the log files.

mod core;
mod finish;
mod hash;
mod http;
mod kv;
mod upstream;

use crate::registry::{args, ctx, Slot, Spec, DIRECTIVES};
use crate::source::SourceMap;
use crate::status::{status, Status};
use sluice_parser::ast::{Directive, File, Terminator};
use sluice_parser::{parse, Diagnostic, FileId, Level, ParseOptions};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file id used for text given with `-g`.
pub(crate) const COMMAND_LINE: FileId = FileId(u32::MAX);

/// What to check and where things are.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-p`: the prefix, ending in `/`. Relative paths of logs, pid, modules resolve here.
    pub prefix: PathBuf,
    /// `-c`, already resolved against the prefix.
    pub conf_file: PathBuf,
    /// `-g` text, parsed before the file in the main context.
    pub globals: Option<String>,
    /// Resolve upstream host names, load certificates, open logs and the pid file (`-t`).
    pub touch_system: bool,
    /// Build [`CheckOutcome::tree`] for lowering (serving); `-t` does not need it.
    /// Serving also leaves the pid file alone: `nginx -t` creates it empty, but a server
    /// writes it only once its listeners are bound.
    pub want_tree: bool,
    /// Loads a certificate, key or CA file with the TLS library the way `nginx -t` does
    /// (this crate has none): `None` falls back to a check of readability and PEM
    /// markers, which cannot see a key that does not match its certificate.
    pub tls_loader: Option<TlsLoader>,
}

/// A TLS file `-t` loads (`ngx_ssl_certificate()`, `ngx_ssl_trusted_certificate()`).
#[derive(Debug, Clone, Copy)]
pub enum TlsFile<'a> {
    /// A certificate chain with its key (`ssl_certificate`, `proxy_ssl_certificate`).
    Pair {
        /// The chain.
        cert: &'a Path,
        /// The private key.
        key: &'a Path,
        /// The password file (`ssl_password_file`, `proxy_ssl_password_file`), whose
        /// lines are tried in turn on an encrypted key.
        passwords: Option<&'a Path>,
    },
    /// A file of CA certificates (`proxy_ssl_trusted_certificate`,
    /// `ssl_trusted_certificate`, `ssl_client_certificate`).
    Trusted(&'a Path),
}

/// Loads one TLS file; the error is nginx's message for it. Messages nginx logs at
/// `[error]` while loading (`password is truncated to 1024 bytes`) are pushed onto the
/// vector, in order.
pub type TlsLoader = fn(TlsFile<'_>, &mut Vec<String>) -> Result<(), String>;

/// Everything the checker found.
#[derive(Debug, Default)]
pub struct CheckOutcome {
    /// Every file read, in order.
    pub sources: SourceMap,
    /// Diagnostics printed before "syntax is ok", in order; at most one `[emerg]`, last.
    pub parse_diags: Vec<Diagnostic>,
    /// Whether reading and the http-level checks passed ("syntax is ok" is printed).
    pub syntax_ok: bool,
    /// Diagnostics of the checks after "syntax is ok"; at most one `[emerg]`, last.
    pub post_diags: Vec<Diagnostic>,
    /// The pid file the configuration names (`pid`), or Debian's default.
    pub pid_file: PathBuf,
    /// The log files the configuration names (error and access logs, Debian's default
    /// access log when http has none), in order, each once: what a root master opens
    /// and hands to unprivileged workers.
    pub log_files: Vec<PathBuf>,
    /// The main context with every `include` replaced by what it read (only when the
    /// check passed): the input of lowering.
    pub tree: Vec<Directive>,
}

impl CheckOutcome {
    /// Whether the configuration passed.
    pub fn ok(&self) -> bool {
        self.syntax_ok && !self.post_diags.iter().any(|d| d.level == Level::Emerg)
    }
}

/// The walk stopped at an `[emerg]` (already recorded).
#[derive(Debug)]
pub(crate) struct Stop;

pub(crate) type R = Result<(), Stop>;

/// A context: which block we are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Main,
    Events,
    Http,
    Server,
    Location,
    Upstream,
    ServerIf,
    LocationIf,
    LimitExcept,
    Stream,
    StreamServer,
    StreamUpstream,
    Mail,
    MailServer,
}

impl Ctx {
    fn bit(self) -> u32 {
        match self {
            Ctx::Main => ctx::MAIN,
            Ctx::Events => ctx::EVENTS,
            Ctx::Http => ctx::HTTP,
            Ctx::Server => ctx::SRV,
            Ctx::Location => ctx::LOC,
            Ctx::Upstream => ctx::UPS,
            Ctx::ServerIf => ctx::SIF,
            Ctx::LocationIf => ctx::LIF,
            Ctx::LimitExcept => ctx::LMT,
            Ctx::Stream => ctx::STREAM,
            Ctx::StreamServer => ctx::STREAM_SRV,
            Ctx::StreamUpstream => ctx::STREAM_UPS,
            Ctx::Mail => ctx::MAIL,
            Ctx::MailServer => ctx::MAIL_SRV,
        }
    }
}

/// Name → registry rows, built once.
fn index() -> &'static HashMap<&'static str, Vec<&'static Spec>> {
    static INDEX: OnceLock<HashMap<&'static str, Vec<&'static Spec>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m: HashMap<&'static str, Vec<&'static Spec>> = HashMap::new();
        for s in DIRECTIVES.iter().chain(crate::registry::EXTENSIONS) {
            m.entry(s.name).or_default().push(s);
        }
        m
    })
}

/// Names whose blocks hold key/value entries (parsed by a custom handler in nginx).
pub fn is_kv_block(name: &str) -> bool {
    matches!(
        name,
        "map" | "types" | "geo" | "split_clients" | "charset_map"
    )
}

/// One block level: what was set here, for "is duplicate".
#[derive(Default)]
pub(crate) struct Level_ {
    pub seen: HashSet<&'static str>,
    /// Extensions of the `types` blocks at this level: nginx keeps one array per level,
    /// so a second `types { }` (or one after `include mime.types`) warns on repeats.
    pub types: HashMap<String, String>,
    /// `limit_req` / `limit_conn` zones used at this level.
    pub shm_limits: HashSet<String>,
    /// `gzip_types` and the like at this level: the types so far (`None` after `*`).
    pub mime_types: HashMap<&'static str, Option<Vec<String>>>,
}

pub(crate) struct Checker<'o> {
    pub opts: &'o Options,
    pub sources: SourceMap,
    pub diags: Vec<Diagnostic>,
    /// Paths being included, outermost first, for cycle detection.
    include_stack: Vec<PathBuf>,
    /// Parsed files by (path, kv_top), so a file included twice is read once.
    parsed: HashMap<(PathBuf, bool), (FileId, std::rc::Rc<File>)>,
    /// Dynamic module files loaded with `load_module`.
    pub loaded: HashSet<String>,
    warned: HashSet<&'static str>,
    pub main: core::MainState,
    pub http: Option<http::HttpState>,
    /// Kinds of the open locations, innermost last.
    pub loc_kinds: Vec<http::LocKind>,
    /// The upstream block being read.
    pub ups: upstream::UpsState,
}

impl<'o> Checker<'o> {
    pub fn emerg(&mut self, msg: impl Into<String>, at: (FileId, u32)) -> Stop {
        self.diags
            .push(Diagnostic::new(Level::Emerg, msg, Some(at)));
        Stop
    }

    pub fn emerg_nowhere(&mut self, msg: impl Into<String>) -> Stop {
        self.diags.push(Diagnostic::new(Level::Emerg, msg, None));
        Stop
    }

    pub fn warn(&mut self, msg: impl Into<String>, at: Option<(FileId, u32)>) {
        self.diags.push(Diagnostic::new(Level::Warn, msg, at));
    }

    /// `"name" directive MESSAGE` at the directive's line (nginx's handler errors).
    pub fn directive_err(&mut self, d: &Directive, msg: &str) -> Stop {
        let text = format!("\"{}\" directive {}", d.name.value, msg);
        self.emerg(text, at(d))
    }

    /// Reads and parses a file (once per path and kind), or reports `open() failed`.
    fn load(
        &mut self,
        path: &Path,
        kv_top: bool,
        from: Option<(FileId, u32)>,
    ) -> Result<(FileId, std::rc::Rc<File>), Stop> {
        let key = (path.to_path_buf(), kv_top);
        if let Some(hit) = self.parsed.get(&key) {
            return Ok(hit.clone());
        }
        let text = match std::fs::read(path) {
            Ok(t) => t,
            // open() succeeds on a directory; nginx's read of it fails, at [crit] and
            // without a position.
            Err(e) if path.is_dir() => {
                let msg = format!("pread() \"{}\" failed ({})", path.display(), os_error(&e));
                self.diags.push(Diagnostic::new(Level::Crit, msg, None));
                return Err(Stop);
            }
            Err(e) => {
                let msg = format!("open() \"{}\" failed ({})", path.display(), os_error(&e));
                self.diags.push(Diagnostic::new(Level::Emerg, msg, from));
                return Err(Stop);
            }
        };
        let id = self.sources.add(path.to_path_buf(), text);
        let opts = ParseOptions {
            kv_block: &is_kv_block,
            kv_top,
            command_line: false,
        };
        let file = std::rc::Rc::new(parse(&self.sources.get(id).text, id, opts));
        self.parsed.insert(key, (id, file.clone()));
        Ok((id, file))
    }

    /// Walks the items of a block (or file) in context `cx`.
    pub fn walk(&mut self, items: &[Directive], error: Option<&Diagnostic>, cx: Ctx) -> R {
        let mut level = Level_::default();
        for d in items {
            self.directive(d, cx, &mut level)?;
        }
        self.block_error(error)
    }

    /// Reports the syntax error that stopped a block, once its items were processed.
    pub fn block_error(&mut self, error: Option<&Diagnostic>) -> R {
        match error {
            Some(e) => {
                self.diags.push(e.clone());
                Err(Stop)
            }
            None => Ok(()),
        }
    }

    /// The block of a block directive, with its error.
    pub fn walk_block(&mut self, d: &Directive, cx: Ctx) -> R {
        match &d.block {
            Some(b) => self.walk(&b.items, b.error.as_ref(), cx),
            None => Ok(()),
        }
    }

    /// `include`: resolves the pattern against the main file's directory, reads each
    /// match (sorted, for globs) and hands its tree to `each`. A cycle is an error
    /// (nginx 1.22.1 recursed until it crashed).
    pub fn with_include(
        &mut self,
        d: &Directive,
        kv_top: bool,
        mut each: impl FnMut(&mut Self, &File) -> R,
    ) -> R {
        let pattern = &d.args[0].value;
        let full = self.conf_path(pattern);
        let paths = if pattern.contains(['*', '?', '[']) {
            match glob_sorted(&full) {
                Ok(p) => p,
                Err(msg) => return Err(self.emerg(msg, at(d))),
            }
        } else {
            vec![full]
        };
        for path in paths {
            // nginx re-reads a file that includes itself in whatever context it stands;
            // that nearly always fails at once ("not allowed here", "is duplicate"), and
            // those are the errors to show. Only a second re-entry is a real cycle.
            if self.include_stack.iter().filter(|p| **p == path).count() >= 2 {
                let mut chain: Vec<String> = self
                    .include_stack
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                chain.push(path.display().to_string());
                let msg = format!("include cycle: {}", chain.join(" -> "));
                self.diags.push(
                    Diagnostic::new(Level::Emerg, msg, Some(at(d))).with_rule("include-cycle"),
                );
                return Err(Stop);
            }
            let (_, file) = self.load(&path, kv_top, Some(at(d)))?;
            self.include_stack.push(path);
            let r = each(self, &file).and_then(|()| self.block_error(file.error.as_ref()));
            self.include_stack.pop();
            r?;
        }
        Ok(())
    }

    /// `include` among directives: the files' directives join the including block
    /// (same level, so "is duplicate" sees across files, as nginx's shared conf does).
    fn include(&mut self, d: &Directive, cx: Ctx, level: &mut Level_) -> R {
        self.with_include(d, false, |c, file| {
            for item in &file.items {
                c.directive(item, cx, level)?;
            }
            Ok(())
        })
    }

    /// Resolves a path the way `ngx_conf_full_name(.., conf_prefix=1)` does: relative
    /// to the directory of the main configuration file.
    pub fn conf_path(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            return PathBuf::from(p);
        }
        let dir = self.opts.conf_file.parent().unwrap_or(Path::new("/"));
        PathBuf::from(format!(
            "{}/{}",
            dir.display().to_string().trim_end_matches('/'),
            p
        ))
    }

    /// Resolves a path against the prefix (`-p`): logs, pid, modules, root.
    pub fn prefix_path(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            return PathBuf::from(p);
        }
        PathBuf::from(format!("{}{}", self.opts.prefix.display(), p))
    }

    /// Dispatches one directive: registry lookup, context, terminator and argument
    /// checks (`ngx_conf_handler()`), sluice's status, then the handler.
    pub fn directive(&mut self, d: &Directive, cx: Ctx, level: &mut Level_) -> R {
        let name = d.name.value.as_str();
        let Some(rows) = index().get(name) else {
            return Err(self.emerg(format!("unknown directive \"{name}\""), at(d)));
        };
        let loaded = &self.loaded;
        let mut available = rows
            .iter()
            .copied()
            .filter(|s| s.dynamic.is_none_or(|so| loaded.contains(so)));
        let any = available.clone().next().is_some();
        if !any {
            return Err(self.emerg(format!("unknown directive \"{name}\""), at(d)));
        }
        let Some(spec) = available.find(|s| s.ctx & cx.bit() != 0) else {
            return Err(self.emerg(format!("\"{name}\" directive is not allowed here"), at(d)));
        };
        let is_block = spec.args & args::BLOCK != 0;
        if !is_block && d.terminator == Terminator::Brace {
            return Err(self.emerg(
                format!("directive \"{name}\" is not terminated by \";\""),
                at(d),
            ));
        }
        if is_block && d.terminator == Terminator::Semicolon {
            return Err(self.emerg(format!("directive \"{name}\" has no opening \"{{\""), at(d)));
        }
        if !arity_ok(spec.args, d.args.len() + 1) {
            return Err(self.emerg(
                format!("invalid number of arguments in \"{name}\" directive"),
                at(d),
            ));
        }

        // `include` is the configuration language itself.
        if name == "include" {
            return self.include(d, cx, level);
        }

        if let Some(since) = crate::registry::extension_since(name) {
            if self.warned.insert(spec.name) {
                let msg = format!(
                    "\"{name}\" directive is accepted as nginx {since} does; nginx 1.22.1 does not know it and refuses this configuration"
                );
                self.diags
                    .push(Diagnostic::new(Level::Warn, msg, Some(at(d))).with_rule("extension"));
            }
        }

        match status(name) {
            Status::RefusedUnsafe => {
                let msg = format!(
                    "\"{name}\" directive is not supported yet, and running without it would let in requests that nginx refuses"
                );
                self.diags.push(
                    Diagnostic::new(Level::Emerg, msg, Some(at(d))).with_rule("refused-unsafe"),
                );
                return Err(Stop);
            }
            // One warning per directive name, at its first use, keeps the output readable.
            Status::NotImplemented if self.warned.insert(spec.name) => {
                let msg = format!("\"{name}\" is not implemented and is ignored");
                self.diags.push(
                    Diagnostic::new(Level::Warn, msg, Some(at(d))).with_rule("not-implemented"),
                );
            }
            _ => {}
        }

        self.handle(spec, d, cx, level)
    }

    /// Runs the directive's handler: a module's own, else the generic slot check; then
    /// notes what the post-http checks need of it.
    fn handle(&mut self, spec: &'static Spec, d: &Directive, cx: Ctx, level: &mut Level_) -> R {
        self.handle_inner(spec, d, cx, level)?;
        if spec.name == "ssl_trusted_certificate" {
            let v = Some(d.args.first().map(|w| w.value.clone()).unwrap_or_default());
            match cx {
                Ctx::Http => self.hs().trusted = v,
                _ => self.server().trusted = v,
            }
        }
        if spec.name == "ssl_dhparam" {
            let v = Some(d.args.first().map(|w| w.value.clone()).unwrap_or_default());
            match cx {
                Ctx::Http => self.hs().dhparam = v,
                _ => self.server().dhparam = v,
            }
        }
        if spec.name == "ssl_ciphers" {
            let v = Some((
                d.args.first().map(|w| w.value.clone()).unwrap_or_default(),
                at(d),
            ));
            match cx {
                Ctx::Http => self.hs().ciphers = v,
                _ => self.server().ciphers = v,
            }
        }
        if spec.name.starts_with("proxy_ssl_") {
            // Loaded when the level is merged (`ngx_http_proxy_set_ssl()`).
            let words: Vec<&str> = d.args.iter().map(|w| w.value.as_str()).collect();
            self.hs().merge_value(spec.name, words.join(" "));
        }
        Ok(())
    }

    fn handle_inner(
        &mut self,
        spec: &'static Spec,
        d: &Directive,
        cx: Ctx,
        level: &mut Level_,
    ) -> R {
        if let Some(r) = self.core_handler(spec, d, cx, level) {
            return r;
        }
        if let Some(r) = self.http_handler(spec, d, cx, level) {
            return r;
        }
        if let Some(r) = self.upstream_handler(spec, d, cx, level) {
            return r;
        }
        self.slot(spec, d, level)?;
        // Blocks of modules sluice does not model (stream, mail, ...) are still walked,
        // so their directives get the same checks.
        if let Some(inner) = generic_block_ctx(spec.name, cx) {
            return self.walk_block(d, inner);
        }
        Ok(())
    }

    /// The generic `ngx_conf_set_*_slot` checks, with nginx's messages.
    pub fn slot(&mut self, spec: &'static Spec, d: &Directive, level: &mut Level_) -> R {
        let v = d.args.first().map(|w| w.value.as_str()).unwrap_or("");
        let scalar = matches!(
            spec.slot,
            Slot::Flag
                | Slot::Str
                | Slot::Num
                | Slot::Size
                | Slot::Off
                | Slot::Msec
                | Slot::Sec
                | Slot::Bufs
                | Slot::Enum(_)
                | Slot::Path
        );
        if scalar && !level.seen.insert(spec.name) {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let ok = match spec.slot {
            Slot::Flag => {
                if !v.eq_ignore_ascii_case("on") && !v.eq_ignore_ascii_case("off") {
                    let msg = format!(
                        "invalid value \"{v}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        spec.name
                    );
                    return Err(self.emerg(msg, at(d)));
                }
                true
            }
            Slot::Num => {
                if sluice_parser::units::parse_number(v).is_none() {
                    return Err(self.directive_err(d, "invalid number"));
                }
                true
            }
            Slot::Size => sluice_parser::units::parse_size(v).is_some(),
            Slot::Off => sluice_parser::units::parse_offset(v).is_some(),
            Slot::Msec => sluice_parser::units::parse_time(v, false).is_some(),
            Slot::Sec => sluice_parser::units::parse_time(v, true).is_some(),
            Slot::Bufs => {
                d.args.len() == 2
                    && sluice_parser::units::parse_number(&d.args[0].value).is_some_and(|n| n > 0)
                    && sluice_parser::units::parse_size(&d.args[1].value).is_some_and(|n| n > 0)
            }
            Slot::Enum(values) => {
                if !values.iter().any(|e| e.eq_ignore_ascii_case(v)) {
                    return Err(self.emerg(format!("invalid value \"{v}\""), at(d)));
                }
                true
            }
            Slot::Bitmask(values) => {
                for w in &d.args {
                    if !values.iter().any(|e| e.eq_ignore_ascii_case(&w.value)) {
                        return Err(self.emerg(format!("invalid value \"{}\"", w.value), at(d)));
                    }
                }
                true
            }
            _ => true,
        };
        if !ok {
            return Err(self.directive_err(d, "invalid value"));
        }
        self.post(spec.name, d, v)
    }

    /// The `post` handlers nginx attaches to some slots (`ngx_conf_post_t`), with their
    /// messages; only those of directives sluice honours or whose values it checks.
    fn post(&mut self, name: &str, d: &Directive, v: &str) -> R {
        let size = || sluice_parser::units::parse_size(v).unwrap_or(0);
        match name {
            // ngx_http_v2_module.c (1.22.1): `ngx_http_v2_chunk_size()`,
            // `ngx_http_v2_recv_buffer_size()` (more than 2 × NGX_HTTP_V2_STATE_BUFFER_SIZE),
            // `ngx_http_v2_preread_size()` (NGX_HTTP_V2_MAX_WINDOW),
            // `ngx_http_v2_streams_index_mask()`, `ngx_http_v2_pool_size()`.
            "http2_chunk_size" if size() == 0 => {
                Err(self.emerg("the http2 chunk size cannot be zero", at(d)))
            }
            "http2_recv_buffer_size" if size() <= 32 => {
                Err(self.directive_err(d, "value is too small"))
            }
            "http2_body_preread_size" if size() > 2_147_483_647 => {
                Err(self.emerg("the maximum body preread buffer size is 2147483647", at(d)))
            }
            "http2_streams_index_size" => {
                let n = sluice_parser::units::parse_number(v).unwrap_or(0);
                if n == 0 || n & (n - 1) != 0 {
                    return Err(self.directive_err(d, "must be a power of two"));
                }
                Ok(())
            }
            "http2_pool_size" if size() < 112 => {
                Err(self.emerg("the pool size must be no less than 112", at(d)))
            }
            "http2_pool_size" if size() % 16 != 0 => {
                Err(self.emerg("the pool size must be a multiple of 16", at(d)))
            }
            _ => Ok(()),
        }
    }
}

/// Contexts of blocks the checker walks generically.
fn generic_block_ctx(name: &str, cx: Ctx) -> Option<Ctx> {
    Some(match (name, cx) {
        ("stream", Ctx::Main) => Ctx::Stream,
        ("server", Ctx::Stream) => Ctx::StreamServer,
        ("upstream", Ctx::Stream) => Ctx::StreamUpstream,
        ("mail", Ctx::Main) => Ctx::Mail,
        ("server", Ctx::Mail) => Ctx::MailServer,
        _ => return None,
    })
}

/// `ngx_conf_handler()`'s argument-count rule; `n` counts the name too.
fn arity_ok(bits: u32, n: usize) -> bool {
    const NUMBER: [u32; 8] = [
        args::NOARGS,
        args::TAKE1,
        args::TAKE2,
        args::TAKE3,
        args::TAKE4,
        args::TAKE5,
        args::TAKE6,
        args::TAKE7,
    ];
    if bits & args::ANY != 0 {
        true
    } else if bits & args::FLAG != 0 {
        n == 2
    } else if bits & args::MORE1 != 0 {
        n >= 2
    } else if bits & args::MORE2 != 0 {
        n >= 3
    } else if n > 8 {
        false
    } else {
        bits & NUMBER[n - 1] != 0
    }
}

/// Where nginx reports a directive: its file and the line of its `;` or `{`.
pub(crate) fn at(d: &Directive) -> (FileId, u32) {
    (d.span.file, d.span.end_line)
}

/// `strerror`-style text nginx appends: `2: No such file or directory`.
pub(crate) fn os_error(e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    format!("{code}: {}", strerror(code))
}

/// The C library's message for an errno value (what nginx prints).
pub fn strerror(code: i32) -> String {
    let msg = std::io::Error::from_raw_os_error(code).to_string();
    // Rust appends " (os error N)"; nginx prints the bare text.
    match msg.rfind(" (os error") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// `glob()` without `GLOB_NOSORT`: sorted matches, dot files skipped by `*`, no match
/// is fine.
fn glob_sorted(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let text = pattern.display().to_string();
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths =
        glob::glob_with(&text, opts).map_err(|e| format!("glob() \"{text}\" failed ({e})"))?;
    let mut out: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| !p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// Entry point: checks the configuration as `nginx -t` does.
pub fn check(opts: &Options) -> CheckOutcome {
    let mut c = Checker {
        opts,
        sources: SourceMap::default(),
        diags: Vec::new(),
        include_stack: Vec::new(),
        parsed: HashMap::new(),
        loaded: HashSet::new(),
        warned: HashSet::new(),
        main: core::MainState::default(),
        http: None,
        loc_kinds: Vec::new(),
        ups: upstream::UpsState::default(),
    };
    let mut out = CheckOutcome::default();
    let parsed = c.read_all();
    out.parse_diags = std::mem::take(&mut c.diags);
    if parsed.is_ok() {
        out.syntax_ok = true;
        let _ = c.after_parse();
        out.post_diags = std::mem::take(&mut c.diags);
    }
    for (p, _) in &c.main.log_files {
        if !out.log_files.contains(p) {
            out.log_files.push(p.clone());
        }
    }
    out.pid_file = c
        .main
        .pid
        .clone()
        .unwrap_or_else(|| PathBuf::from(core::DEFAULT_PID));
    if out.ok() && opts.want_tree {
        out.tree = c.expanded_main();
    }
    out.sources = c.sources;
    out
}

impl Checker<'_> {
    /// The `-g` directives and the main file, includes expanded, from the parse cache
    /// (every file was read and checked already).
    fn expanded_main(&self) -> Vec<Directive> {
        let mut out = Vec::new();
        if let Some(g) = &self.opts.globals {
            let opts = ParseOptions {
                kv_block: &is_kv_block,
                kv_top: false,
                command_line: true,
            };
            out.extend(parse(g.as_bytes(), COMMAND_LINE, opts).items);
        }
        if let Some((_, file)) = self.parsed.get(&(self.opts.conf_file.clone(), false)) {
            self.expand_into(&file.items, false, &mut out);
        }
        out
    }

    fn expand_into(&self, items: &[Directive], kv: bool, out: &mut Vec<Directive>) {
        for d in items {
            if d.name.value == "include" && d.args.len() == 1 && d.block.is_none() {
                let pattern = &d.args[0].value;
                let full = self.conf_path(pattern);
                let paths = if pattern.contains(['*', '?', '[']) {
                    glob_sorted(&full).unwrap_or_default()
                } else {
                    vec![full]
                };
                for p in paths {
                    if let Some((_, f)) = self.parsed.get(&(p, kv)) {
                        self.expand_into(&f.items, kv, out);
                    }
                }
                continue;
            }
            let mut copy = d.clone();
            if let (Some(b), Some(orig)) = (copy.block.as_mut(), d.block.as_ref()) {
                b.items.clear();
                self.expand_into(&orig.items, is_kv_block(&d.name.value), &mut b.items);
            }
            out.push(copy);
        }
    }

    /// `-g` text, then the main file, in the main context.
    fn read_all(&mut self) -> R {
        let mut level = Level_::default();
        if let Some(g) = &self.opts.globals {
            let opts = ParseOptions {
                kv_block: &is_kv_block,
                kv_top: false,
                command_line: true,
            };
            let file = parse(g.as_bytes(), COMMAND_LINE, opts);
            for d in &file.items {
                if d.terminator == Terminator::Brace {
                    return Err(
                        self.emerg("block directives are not supported in -g option", at(d))
                    );
                }
                self.directive(d, Ctx::Main, &mut level)?;
            }
            self.block_error(file.error.as_ref())?;
        }
        let conf = self.opts.conf_file.clone();
        let (_, file) = self.load(&conf, false, None)?;
        self.include_stack.push(conf);
        for d in &file.items {
            self.directive(d, Ctx::Main, &mut level)?;
        }
        self.block_error(file.error.as_ref())
    }
}
