//! Timeouts (SEMANTICS §9; §4.8 errors after the header was sent; §8.9 the 504 page;
//! trap 28), with small values so each case takes about a second.

use super::origin::Act;
use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    upstream hole_then_ok { server 127.0.0.1:{HOLE}; server 127.0.0.1:{O0}; }
    upstream slow_then_ok { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream slow_then_ok_off { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    server {
        listen 127.0.0.1:{L0};
        proxy_read_timeout 1s;
        proxy_connect_timeout 1s;
        location /read/ { proxy_pass http://127.0.0.1:{O0}; }
        location /nobuf/ { proxy_buffering off; proxy_pass http://127.0.0.1:{O0}; }
        location /connect/ { proxy_pass http://127.0.0.1:{HOLE}; }
        location /connect2/ { proxy_pass http://hole_then_ok; }
        location /retry/ { proxy_pass http://slow_then_ok; }
        location /noretry/ { proxy_next_upstream error; proxy_pass http://slow_then_ok_off; }
        location /send/ { client_max_body_size 0; proxy_send_timeout 1s; proxy_pass http://127.0.0.1:{O0}; }
    }
    server {
        listen 127.0.0.1:{L1};
        client_header_timeout 1s;
        client_body_timeout 1s;
        keepalive_timeout 1s;
        location / { return 200 "ok\n"; }
        location /p/ { proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    let body = "x".repeat(24 << 20);
    let big_post = format!(
        "POST /send/ HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let ok = |o: usize| resp("200 OK", "", &format!("from {o}\n"));
    let g = Group {
        name: "timeouts",
        origins: 2,
        http,
        cases: vec![
            case("read_timeout_before_header_is_504")
                .get("/read/x")
                .answer(0, delayed(2000, ok(0)))
                .timing(),
            case("read_timeout_is_per_read_trickle_completes")
                .get("/read/x")
                .answer(
                    0,
                    trickle(
                        &[
                            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                            "a",
                            "b",
                            "c",
                        ],
                        600,
                    ),
                )
                .timing(),
            case("read_timeout_mid_body_truncates_and_closes")
                .get("/read/x")
                .eof(3000)
                .answer(
                    0,
                    trickle(
                        &[
                            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                            "a",
                            "b",
                            "c",
                        ],
                        1500,
                    ),
                )
                .timing(),
            case("read_timeout_mid_body_unbuffered_truncates")
                .get("/nobuf/x")
                .answer(
                    0,
                    trickle(
                        &[
                            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                            "a",
                            "b",
                            "c",
                        ],
                        1500,
                    ),
                )
                .timing(),
            case("connect_timeout_is_504").get("/connect/x").timing(),
            case("connect_timeout_then_next_peer_answers")
                .get("/connect2/x")
                .timing(),
            case("read_timeout_retried_on_next_peer")
                .get("/retry/x")
                .answer(0, delayed(2000, ok(0)))
                .answer(1, ok(1))
                .timing(),
            case("read_timeout_not_retried_when_timeout_not_listed")
                .get("/noretry/x")
                .answer(0, delayed(2000, ok(0)))
                .answer(1, ok(1))
                .timing(),
            case("proxy_send_timeout_non_reading_upstream_is_504")
                .send(big_post.as_bytes())
                .read()
                .answer(0, vec![Act::Stall(4000)])
                .timing(),
            case("client_header_timeout_partial_head_closed_silently")
                .port(1)
                .send(b"GET / HTTP/1.1\r\nHost: t\r\n")
                .read()
                .timing(),
            case("client_header_timeout_idle_new_connection_closed")
                .port(1)
                .read()
                .timing(),
            case("client_body_timeout_closes_without_response")
                .port(1)
                .send(b"POST /p/ HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
                .read()
                .timing(),
            case("keepalive_timeout_closes_idle_connection")
                .port(1)
                .get("/")
                .eof(3000)
                .timing(),
        ],
    };
    g.split(4)
}
