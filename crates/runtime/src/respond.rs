//! nginx's own responses: status lines, the `Date` header, error pages
//! (`ngx_http_special_response.c`), and the header block it writes (SEMANTICS §4.6, §8.9).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The version sluice puts in `Server` and error pages (nginx prints `nginx/1.22.1`;
/// the string has the same length, so page sizes match nginx's).
pub const SERVER_TOKEN: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// nginx's reason phrase for a status it generates, `""` when it has none (nginx then
/// sends `HTTP/1.1 418 ` with an empty reason).
pub fn reason(code: u16) -> &'static str {
    match code {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// The status line nginx writes for its own responses.
pub fn status_line(code: u16) -> String {
    format!("HTTP/1.1 {code} {}\r\n", reason(code))
}

/// Whether nginx has an error page for this code (`ngx_http_error_pages[]` of nginx
/// 1.22.1: the null entries — 417–420, 422–428, 506, and every code outside the table —
/// answer with an empty body and no `Content-Type`, as `return 418;` does).
pub fn has_error_page(code: u16) -> bool {
    matches!(code, 301..=303 | 307 | 308 | 400..=416 | 421 | 429 | 494..=497 | 500..=505 | 507)
}

/// The `<title>` of nginx's page: the status line text, except where
/// `ngx_http_special_response.c` words its page differently (`302 Found` under the
/// `302 Moved Temporarily` status line, `401 Authorization Required`).
fn page_title(code: u16) -> String {
    match code {
        302 => "302 Found".to_string(),
        401 => "401 Authorization Required".to_string(),
        c => format!("{c} {}", reason(c)),
    }
}

/// The body nginx sends for an error (or redirect) status; `tokens` is `server_tokens`.
/// Empty for the codes nginx has no page for ([`has_error_page`]).
pub fn error_page(code: u16, tokens: bool) -> Vec<u8> {
    if !has_error_page(code) {
        return Vec::new();
    }
    let (title, inner) = match code {
        494 => (
            "400 Request Header Or Cookie Too Large",
            Some("Request Header Or Cookie Too Large"),
        ),
        495 => (
            "400 The SSL certificate error",
            Some("The SSL certificate error"),
        ),
        496 => (
            "400 No Required SSL certificate was sent",
            Some("No required SSL certificate was sent"),
        ),
        497 => (
            "400 The plain HTTP request was sent to HTTPS port",
            Some("The plain HTTP request was sent to HTTPS port"),
        ),
        _ => ("", None),
    };
    let mut s = String::with_capacity(200);
    s.push_str("<html>\r\n");
    match inner {
        Some(text) => {
            s.push_str(&format!(
                "<head><title>{title}</title></head>\r\n<body>\r\n"
            ));
            s.push_str("<center><h1>400 Bad Request</h1></center>\r\n");
            s.push_str(&format!("<center>{text}</center>\r\n"));
        }
        None => {
            let t = page_title(code);
            s.push_str(&format!(
                "<head><title>{t}</title></head>\r\n<body>\r\n<center><h1>{t}</h1></center>\r\n"
            ));
        }
    }
    let token = if tokens { SERVER_TOKEN } else { "sluice" };
    s.push_str(&format!(
        "<hr><center>{token}</center>\r\n</body>\r\n</html>\r\n"
    ));
    s.into_bytes()
}

/// The status sent on the wire for nginx's internal codes (494–497 go out as 400).
pub fn wire_status(code: u16) -> u16 {
    match code {
        494..=497 => 400,
        c => c,
    }
}

/// `Date`/`$time_local` clock, formatted once per second.
pub struct Clock {
    cached: Mutex<(u64, String, String)>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            cached: Mutex::new((u64::MAX, String::new(), String::new())),
        }
    }
}

impl Clock {
    /// `Sun, 22 Nov 2026 00:30:00 GMT`.
    pub fn http_date(&self) -> String {
        self.with(|c| c.1.clone())
    }

    /// `22/Nov/2026:00:30:00 +0000` (`$time_local`, in UTC).
    pub fn time_local(&self) -> String {
        self.with(|c| c.2.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&(u64, String, String)) -> T) -> T {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut c = match self.cached.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if c.0 != now {
            *c = (now, format_http_date(now), format_time_local(now));
        }
        f(&c)
    }
}

thread_local! {
    /// This thread's `Date` value and the second it was made for.
    static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// Appends the `Date` value (`Sun, 22 Nov 2026 00:30:00 GMT`) from a per-thread cache
/// renewed once a second: no lock and no allocation on the response path.
pub fn append_http_date(out: &mut Vec<u8>) {
    let now = crate::clock::unix_secs();
    DATE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            *c = (now, format_http_date(now));
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, min, sec, weekday index from Thursday).
fn civil(secs: u64) -> (i64, usize, i64, u64, u64, u64, usize) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m as usize,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        (days % 7) as usize,
    )
}

/// `Sun, 22 Nov 2026 00:30:00 GMT` for a time in seconds since 1970.
pub(crate) fn format_http_date(secs: u64) -> String {
    let (y, m, d, hh, mm, ss, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} GMT",
        DAYS[wd],
        MONTHS[m - 1]
    )
}

fn format_time_local(secs: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil(secs);
    format!("{d:02}/{}/{y}:{hh:02}:{mm:02}:{ss:02} +0000", MONTHS[m - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_http_date(1_795_307_400),
            "Sun, 22 Nov 2026 00:30:00 GMT"
        );
        assert_eq!(
            format_time_local(1_795_307_400),
            "22/Nov/2026:00:30:00 +0000"
        );
    }

    #[test]
    fn error_page_502_has_nginx_size() {
        // nginx 1.22.1's 502 page is 157 bytes (SEMANTICS §8.9); SERVER_TOKEN has the
        // same length as "nginx/1.22.1".
        assert_eq!(SERVER_TOKEN.len(), "nginx/1.22.1".len());
        assert_eq!(error_page(502, true).len(), 157);
    }
}
