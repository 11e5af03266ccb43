//! Variables as the runtime evaluates them: names resolved at load to a [`Var`], values
//! with variables split into [`Template`] parts once.

use sluice_parser::template::{split, Part};

/// A variable, resolved at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `$http_NAME`: the first request header whose lowercased name with `-` → `_` is NAME
    /// (`cookie` and `x_forwarded_for` join all, SEMANTICS §7).
    Header(Box<str>),
    /// `$cookie_NAME`
    Cookie(Box<str>),
    /// `$arg_NAME`
    Arg(Box<str>),
    /// `$sent_http_NAME`
    SentHeader(Box<str>),
    /// `$upstream_http_NAME`
    UpstreamHeader(Box<str>),
    /// `$1`..`$9`
    Capture(u8),
    /// A variable the configuration defines (`map`, `set`, named capture, ...): index
    /// into [`super::RoutingTable::user_vars`].
    User(u32),
    /// A built-in variable.
    Builtin(Builtin),
    /// Known to nginx, not computed by sluice yet: evaluates to empty.
    Unsupported(Box<str>),
}

macro_rules! builtins {
    ($($name:literal => $v:ident,)*) => {
        /// Built-in variables sluice computes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Builtin { $($v,)* }
        impl Builtin {
            /// By nginx name.
            pub fn from_name(n: &str) -> Option<Builtin> {
                match n { $($name => Some(Builtin::$v),)* _ => None }
            }
        }
    };
}

builtins! {
    "host" => Host,
    "remote_addr" => RemoteAddr,
    "remote_port" => RemotePort,
    "binary_remote_addr" => BinaryRemoteAddr,
    "server_addr" => ServerAddr,
    "server_port" => ServerPort,
    "server_protocol" => ServerProtocol,
    "server_name" => ServerName,
    "scheme" => Scheme,
    "https" => Https,
    "ssl_protocol" => SslProtocol,
    "ssl_cipher" => SslCipher,
    "ssl_server_name" => SslServerName,
    "ssl_session_reused" => SslSessionReused,
    "request_uri" => RequestUri,
    "uri" => Uri,
    "document_uri" => DocumentUri,
    "request" => Request,
    "args" => Args,
    "query_string" => QueryString,
    "is_args" => IsArgs,
    "request_method" => RequestMethod,
    "content_length" => ContentLength,
    "content_type" => ContentType,
    "remote_user" => RemoteUser,
    "status" => Status,
    "body_bytes_sent" => BodyBytesSent,
    "bytes_sent" => BytesSent,
    "request_length" => RequestLength,
    "request_time" => RequestTime,
    "request_id" => RequestId,
    "msec" => Msec,
    "time_local" => TimeLocal,
    "time_iso8601" => TimeIso8601,
    "hostname" => Hostname,
    "pid" => Pid,
    "nginx_version" => NginxVersion,
    "connection" => Connection,
    "connection_requests" => ConnectionRequests,
    "pipe" => Pipe,
    "proxy_host" => ProxyHost,
    "proxy_port" => ProxyPort,
    "proxy_add_x_forwarded_for" => ProxyAddXForwardedFor,
    "upstream_addr" => UpstreamAddr,
    "upstream_status" => UpstreamStatus,
    "upstream_response_time" => UpstreamResponseTime,
    "upstream_connect_time" => UpstreamConnectTime,
    "upstream_header_time" => UpstreamHeaderTime,
    "upstream_response_length" => UpstreamResponseLength,
    "upstream_bytes_received" => UpstreamBytesReceived,
    "upstream_bytes_sent" => UpstreamBytesSent,
    "proxy_internal_body_length" => ProxyInternalBodyLength,
    "proxy_internal_chunked" => ProxyInternalChunked,
    "http2" => Http2,
    "request_completion" => RequestCompletion,
    "realip_remote_addr" => RealipRemoteAddr,
    "realip_remote_port" => RealipRemotePort,
    "connections_active" => ConnectionsActive,
    "connections_reading" => ConnectionsReading,
    "connections_writing" => ConnectionsWriting,
    "connections_waiting" => ConnectionsWaiting,
}

impl Var {
    /// Resolves a name as written after `$` (already lowercased), given the user-defined
    /// names in order.
    pub fn resolve(name: &str, user: &[String]) -> Var {
        if let Some(i) = user.iter().position(|u| u == name) {
            return Var::User(i as u32);
        }
        if let Some(b) = Builtin::from_name(name) {
            return Var::Builtin(b);
        }
        let pre = |p: &str| name.strip_prefix(p).map(Box::<str>::from);
        if let Some(n) = pre("http_") {
            return Var::Header(n);
        }
        if let Some(n) = pre("cookie_") {
            return Var::Cookie(n);
        }
        if let Some(n) = pre("arg_") {
            return Var::Arg(n);
        }
        if let Some(n) = pre("sent_http_") {
            return Var::SentHeader(n);
        }
        if let Some(n) = pre("upstream_http_") {
            return Var::UpstreamHeader(n);
        }
        Var::Unsupported(name.into())
    }
}

/// A piece of a compiled value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TPart {
    /// Bytes copied as they are.
    Lit(Box<[u8]>),
    /// A variable's value.
    Var(Var),
}

/// A value with variables, split once at load (nginx's complex value).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    /// The parts, in order.
    pub parts: Vec<TPart>,
}

impl Template {
    /// Compiles a checked value. The checker has validated the syntax already; a value
    /// that does not split is kept literally.
    pub fn compile(s: &str, user: &[String]) -> Template {
        let Ok(parts) = split(s) else {
            return Template {
                parts: vec![TPart::Lit(s.as_bytes().into())],
            };
        };
        let parts = parts
            .into_iter()
            .map(|p| match p {
                Part::Literal(l) => TPart::Lit(l.as_bytes().into()),
                Part::Var(n) => TPart::Var(Var::resolve(&n.to_ascii_lowercase(), user)),
                Part::Capture(n) => TPart::Var(Var::Capture(n)),
            })
            .collect();
        Template { parts }
    }

    /// The value when it has no variables.
    pub fn literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [TPart::Lit(l)] => Some(l),
            _ => None,
        }
    }
}
