//! Request-head parsing cost, for `perf stat`: parses one of three typical request heads
//! `N` times through `http1::adapter::parse` with the server of a minimal configuration.
//!
//! ```text
//! cargo build --release -p sluice-runtime --example parse_bench
//! for r in wrk browser websocket; do
//!   for n in 0 1000000; do
//!     perf stat -x, -e instructions:u target/release/examples/parse_bench $r $n
//!   done
//! done
//! ```
//!
//! Instructions per parse = (count at N=1000000 - count at N=0) / 1000000: the run with
//! N=0 is the same process (configuration load included) without the parsing.

use sluice_runtime::http1::adapter;
use std::hint::black_box;

const WRK: &[u8] = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1:18482\r\n\r\n";

const BROWSER: &[u8] = b"GET /static/app/main.css?v=20261122 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/css,*/*;q=0.1\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/articles/2026/11/parsing\r\n\
Connection: keep-alive\r\n\
Cookie: session=4f1c2a9be07d4e55a1c3; theme=dark; consent=1\r\n\
Sec-Fetch-Dest: style\r\n\
Sec-Fetch-Mode: no-cors\r\n\
If-None-Match: \"66f0c1a2-1b3e\"\r\n\
\r\n";

const WEBSOCKET: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: ws.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

const CONF: &str = "events { }\nhttp {\n    server {\n        listen 127.0.0.1:18482;\n        \
                    location / { return 200 ok; }\n    }\n}\n";

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "wrk".into());
    let n: u64 = args
        .next()
        .map_or(Ok(1_000_000), |s| s.parse())
        .map_err(|e| format!("N: {e}"))?;
    let req = match which.as_str() {
        "wrk" => WRK,
        "browser" => BROWSER,
        "websocket" => WEBSOCKET,
        other => {
            return Err(format!(
                "unknown request {other:?}: wrk, browser or websocket"
            ))
        }
    };

    let dir = std::env::temp_dir().join(format!("sluice-parse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, CONF).map_err(|e| e.to_string())?;
    let mut prefix = dir.clone().into_os_string();
    prefix.push("/");
    let opts = sluice_compiler::Options {
        prefix: prefix.into(),
        conf_file: conf.clone(),
        globals: None,
        touch_system: false,
        want_tree: true,
        tls_loader: None,
    };
    let out = sluice_compiler::check(&opts);
    let table = sluice_compiler::table::lower(&out.tree, &opts.prefix, &conf);
    let _ = std::fs::remove_dir_all(&dir);
    let table = table?;
    let server = table.servers.first().ok_or("no server")?;

    // Once outside the loop: the request must parse (a benchmark of an error is useless).
    match adapter::parse(req, server) {
        Ok(Some((_, used))) if used == req.len() => {}
        other => return Err(format!("{which}: {other:?}")),
    }
    let mut total = 0usize;
    for _ in 0..n {
        if let Ok(Some((head, used))) = adapter::parse(black_box(req), black_box(server)) {
            total += used + black_box(&head).headers.len();
        }
    }
    println!("{which}: {n} parses ({total})");
    Ok(())
}
