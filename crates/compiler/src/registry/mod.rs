//! The directive registry: every directive nginx 1.22.1 knows, with the contexts it may
//! appear in and the argument counts it takes, mirroring nginx's `ngx_command_t` tables
//! so a reviewer can compare row by row with the nginx source.
//!
//! The rows live in [`table`]; what sluice does with each directive (implemented, accepted
//! with a warning, refused) lives in [`crate::status`], in one place.

mod table;

pub use table::DIRECTIVES;

/// Directives of later nginx versions that sluice accepts although nginx 1.22.1 does not
/// know them. A configuration using one fails `nginx -t` on 1.22.1, so `sluice -t` says
/// so with a `[warn] ... (sluice: extension)`; configurations nginx 1.22.1 accepts are
/// checked exactly as before.
pub static EXTENSIONS: &[Spec] = &[
    // nginx 1.25.1 (`ngx_http_v2_module`): `http2 on|off;` per server, replacing the
    // `listen ... http2` parameter.
    Spec {
        name: "http2",
        module: "ngx_http_v2_module",
        ctx: ctx::HTTP | ctx::SRV,
        args: args::FLAG,
        slot: Slot::Flag,
        dynamic: None,
    },
];

/// The nginx version that introduced an [`EXTENSIONS`] directive.
pub fn extension_since(name: &str) -> Option<&'static str> {
    match name {
        "http2" => Some("1.25.1"),
        _ => None,
    }
}

/// Context bits: where a directive may appear (nginx's `NGX_*_CONF` flags).
pub mod ctx {
    /// Top level of the main file (`NGX_MAIN_CONF` with `NGX_DIRECT_CONF`).
    pub const MAIN: u32 = 1 << 0;
    /// Inside `events { }` (`NGX_EVENT_CONF`).
    pub const EVENTS: u32 = 1 << 1;
    /// Inside `http { }` (`NGX_HTTP_MAIN_CONF`).
    pub const HTTP: u32 = 1 << 2;
    /// Inside `server { }` in http (`NGX_HTTP_SRV_CONF`).
    pub const SRV: u32 = 1 << 3;
    /// Inside `location { }` (`NGX_HTTP_LOC_CONF`).
    pub const LOC: u32 = 1 << 4;
    /// Inside `upstream { }` in http (`NGX_HTTP_UPS_CONF`).
    pub const UPS: u32 = 1 << 5;
    /// Inside `if { }` at server level (`NGX_HTTP_SIF_CONF`).
    pub const SIF: u32 = 1 << 6;
    /// Inside `if { }` at location level (`NGX_HTTP_LIF_CONF`).
    pub const LIF: u32 = 1 << 7;
    /// Inside `limit_except { }` (`NGX_HTTP_LMT_CONF`).
    pub const LMT: u32 = 1 << 8;
    /// Inside `stream { }` (`NGX_STREAM_MAIN_CONF`).
    pub const STREAM: u32 = 1 << 9;
    /// Inside `server { }` in stream (`NGX_STREAM_SRV_CONF`).
    pub const STREAM_SRV: u32 = 1 << 10;
    /// Inside `upstream { }` in stream (`NGX_STREAM_UPS_CONF`).
    pub const STREAM_UPS: u32 = 1 << 11;
    /// Inside `mail { }` (`NGX_MAIL_MAIN_CONF`).
    pub const MAIL: u32 = 1 << 12;
    /// Inside `server { }` in mail (`NGX_MAIL_SRV_CONF`).
    pub const MAIL_SRV: u32 = 1 << 13;
}

/// Argument-count bits, nginx's `NGX_CONF_*` values (`ngx_conf_file.h`), bit for bit.
pub mod args {
    /// No arguments.
    pub const NOARGS: u32 = 0x1;
    /// Exactly one argument.
    pub const TAKE1: u32 = 0x2;
    /// Exactly two.
    pub const TAKE2: u32 = 0x4;
    /// Exactly three.
    pub const TAKE3: u32 = 0x8;
    /// Exactly four.
    pub const TAKE4: u32 = 0x10;
    /// Exactly five.
    pub const TAKE5: u32 = 0x20;
    /// Exactly six.
    pub const TAKE6: u32 = 0x40;
    /// Exactly seven.
    pub const TAKE7: u32 = 0x80;
    /// Block directive (`{` terminated).
    pub const BLOCK: u32 = 0x100;
    /// `on` or `off`.
    pub const FLAG: u32 = 0x200;
    /// Any number of arguments.
    pub const ANY: u32 = 0x400;
    /// One or more.
    pub const MORE1: u32 = 0x800;
    /// Two or more.
    pub const MORE2: u32 = 0x1000;
    /// One or two.
    pub const TAKE12: u32 = TAKE1 | TAKE2;
    /// One or three.
    pub const TAKE13: u32 = TAKE1 | TAKE3;
    /// Two or three.
    pub const TAKE23: u32 = TAKE2 | TAKE3;
    /// One, two or three.
    pub const TAKE123: u32 = TAKE1 | TAKE2 | TAKE3;
    /// One to four.
    pub const TAKE1234: u32 = TAKE1 | TAKE2 | TAKE3 | TAKE4;
}

/// How nginx stores the directive's value: the `set` handler of its `ngx_command_t`.
/// The generic slots get generic checks with nginx's messages; `Custom` names the
/// nginx handler function, which the compiler implements directive by directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `ngx_conf_set_flag_slot`
    Flag,
    /// `ngx_conf_set_str_slot`
    Str,
    /// `ngx_conf_set_str_array_slot`
    StrArray,
    /// `ngx_conf_set_keyval_slot`
    KeyVal,
    /// `ngx_conf_set_num_slot`
    Num,
    /// `ngx_conf_set_size_slot`
    Size,
    /// `ngx_conf_set_off_slot`
    Off,
    /// `ngx_conf_set_msec_slot`
    Msec,
    /// `ngx_conf_set_sec_slot`
    Sec,
    /// `ngx_conf_set_bufs_slot`
    Bufs,
    /// `ngx_conf_set_enum_slot` with its accepted values
    Enum(&'static [&'static str]),
    /// `ngx_conf_set_bitmask_slot` with its accepted values
    Bitmask(&'static [&'static str]),
    /// `ngx_conf_set_path_slot`
    Path,
    /// `ngx_conf_set_access_slot`
    Access,
    /// any other handler; the string is the nginx C function's name
    Custom(&'static str),
}

/// One row of the registry: one `ngx_command_t` of one module.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Directive name.
    pub name: &'static str,
    /// nginx module that defines it, e.g. `ngx_http_proxy_module`.
    pub module: &'static str,
    /// Allowed contexts, bits of [`ctx`].
    pub ctx: u32,
    /// Argument-count bits of [`args`] (plus [`args::BLOCK`] for block directives).
    pub args: u32,
    /// The handler kind.
    pub slot: Slot,
    /// `None` for modules built into Debian's nginx 1.22.1 binary; `Some("x.so")` for a
    /// module Debian ships as a dynamic module, whose directives exist only after
    /// `load_module .../x.so`.
    pub dynamic: Option<&'static str>,
}
