//! What sluice does with each directive nginx knows. This is the one place that says
//! it; `docs/compat.md` is checked against it by a test.
//!
//! - [`IMPLEMENTED`]: sluice honours it (the `-t` checks and, where it applies at run
//!   time, the behaviour).
//! - [`REFUSED_UNSAFE`]: directives whose silent absence would widen access or change who
//!   gets in. Until sluice enforces them, a configuration that uses one is refused.
//! - everything else nginx 1.22.1 knows: accepted with a `[warn] ... (sluice: not-implemented)`.

/// Directives sluice implements.
pub static IMPLEMENTED: &[&str] = &[
    // core and events: checked, and mapped onto sluice's process model
    "daemon",
    "env",
    "error_log",
    "events",
    "include",
    "load_module",
    "master_process",
    "multi_accept",
    "pcre_jit",
    "pid",
    "use",
    // a root master and one serving process as the user (runtime `master.rs`)
    "user",
    // client and upstream connections, reused and refused as nginx does (`slots.rs`)
    "worker_connections",
    "worker_processes",
    "worker_rlimit_nofile",
    // http structure and routing
    "http",
    "server",
    "listen",
    "server_name",
    "location",
    "upstream",
    "map",
    "map_hash_bucket_size",
    "map_hash_max_size",
    "server_names_hash_bucket_size",
    "server_names_hash_max_size",
    "variables_hash_bucket_size",
    "variables_hash_max_size",
    "types_hash_bucket_size",
    "types_hash_max_size",
    "types",
    "default_type",
    // the rewrite module (its instructions run in order, SEMANTICS §10), error pages
    // and try_files
    "return",
    "rewrite",
    "if",
    "set",
    "break",
    "error_page",
    "recursive_error_pages",
    "try_files",
    "log_format",
    "access_log",
    "keepalive_timeout",
    "keepalive_requests",
    "client_max_body_size",
    "client_header_timeout",
    "client_body_timeout",
    "send_timeout",
    "client_header_buffer_size",
    "large_client_header_buffers",
    "server_tokens",
    "tcp_nodelay",
    "underscores_in_headers",
    "ignore_invalid_headers",
    "merge_slashes",
    "resolver",
    "resolver_timeout",
    // proxy
    "proxy_pass",
    "proxy_set_header",
    "proxy_http_version",
    "proxy_connect_timeout",
    "proxy_read_timeout",
    "proxy_send_timeout",
    "proxy_buffering",
    "proxy_request_buffering",
    "proxy_redirect",
    "proxy_hide_header",
    "proxy_pass_header",
    "proxy_next_upstream",
    "proxy_next_upstream_tries",
    "proxy_next_upstream_timeout",
    "proxy_pass_request_headers",
    "proxy_pass_request_body",
    "proxy_buffer_size",
    "proxy_buffers",
    "proxy_ignore_client_abort",
    "proxy_intercept_errors",
    "proxy_set_body",
    "proxy_socket_keepalive",
    // TLS to `https://` upstreams (nginx's defaults: no SNI, no verification)
    "proxy_ssl_server_name",
    "proxy_ssl_name",
    "proxy_ssl_verify",
    "proxy_ssl_verify_depth",
    "proxy_ssl_trusted_certificate",
    "proxy_ssl_protocols",
    "proxy_ssl_ciphers",
    "proxy_ssl_certificate",
    "proxy_ssl_certificate_key",
    "proxy_ssl_password_file",
    "proxy_ssl_session_reuse",
    // upstream
    "hash",
    "ip_hash",
    "least_conn",
    "keepalive",
    "keepalive_time",
    // ssl (listeners and certificates)
    "ssl",
    "ssl_certificate",
    "ssl_certificate_key",
    // passphrases of encrypted keys (PKCS#8 and OpenSSL's legacy PEM encryption)
    "ssl_password_file",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_session_cache",
    "ssl_session_timeout",
    "ssl_session_tickets",
    // HTTP/2 (`listen ... http2`): the limits, and the obsolete directives nginx 1.22
    // itself ignores with a warning
    "http2_max_concurrent_streams",
    "http2_body_preread_size",
    "http2_chunk_size",
    "http2_idle_timeout",
    "http2_max_requests",
    "http2_recv_timeout",
    "http2_max_field_size",
    "http2_max_header_size",
    "http2",
    // static files (SEMANTICS §10)
    "root",
    "alias",
    "index",
    "expires",
    "etag",
    "if_modified_since",
    "log_not_found",
    // accepted as no-ops: socket, copy and memory-pool tuning only (the h2 crate keeps
    // its own read buffer and stream table; their values are still checked)
    "sendfile",
    "tcp_nopush",
    "http2_recv_buffer_size",
    "http2_pool_size",
    "http2_streams_index_size",
    // access control: the access phase's checkers and how they combine, the methods
    // `limit_except` lets through, and the client address they see (realip)
    "allow",
    "deny",
    "internal",
    // auth subrequests (runtime/auth_request.rs)
    "auth_request",
    "auth_request_set",
    "satisfy",
    "limit_except",
    "auth_basic",
    "auth_basic_user_file",
    "set_real_ip_from",
    "real_ip_header",
    "real_ip_recursive",
    // monitoring
    "stub_status",
];

/// Directives refused until implemented, because ignoring them would let in requests
/// that nginx keeps out.
pub static REFUSED_UNSAFE: &[&str] = &[
    "ssl_verify_client",
    "valid_referers",
    "secure_link",
    "secure_link_md5",
    "secure_link_secret",
];

/// What sluice does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Honoured.
    Implemented,
    /// Accepted with a warning.
    NotImplemented,
    /// The configuration is refused.
    RefusedUnsafe,
}

/// Looks a directive name up.
pub fn status(name: &str) -> Status {
    if REFUSED_UNSAFE.contains(&name) {
        Status::RefusedUnsafe
    } else if IMPLEMENTED.contains(&name) {
        Status::Implemented
    } else {
        Status::NotImplemented
    }
}
