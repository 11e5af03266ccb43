//! Response framing and buffering (SEMANTICS §4.8: chunked to HTTP/1.1 clients,
//! close-delimited to HTTP/1.0 ones, HEAD, 204/304, keep-alive; trap 26), and the client
//! framing errors of §4.5.

use super::origin::Act;
use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        location / { proxy_pass http://127.0.0.1:{O0}; }
        location /nobuf/ { proxy_buffering off; proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    let close_delim = || reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil eof");
    let chunked = || {
        reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    };
    let slow3 = || {
        trickle(
            &[
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                "a",
                "b",
                "c",
            ],
            300,
        )
    };
    let big = "0123456789abcdef".repeat(6000);
    let g = Group {
        name: "framing",
        origins: 1,
        http,
        cases: vec![
            case("frame_content_length_kept").get("/x"),
            case("frame_chunked_upstream_dechunked_and_rechunked")
                .get("/x")
                .answer(0, chunked()),
            case("frame_chunked_upstream_to_http10_client").req("GET /x HTTP/1.0\r\nHost: t\r\n\r\n").answer(0, chunked()),
            case("frame_close_delimited_to_http11_client_is_chunked")
                .get("/x")
                .answer(0, close_delim()),
            case("frame_close_delimited_to_http10_client_is_raw_and_closes")
                .req("GET /x HTTP/1.0\r\nHost: t\r\n\r\n")
                .answer(0, close_delim()),
            case("frame_http10_keepalive_client_with_length_kept_alive")
                .req("GET /x HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
                .get("/y"),
            case("frame_http10_keepalive_client_unknown_length_closes")
                .req("GET /x HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
                .answer(0, close_delim())
                .eof(1000),
            case("frame_status_line_is_http11_for_http10_client")
                .req("GET /x HTTP/1.0\r\n\r\n"),
            case("frame_head_response_has_no_body").req("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n"),
            ),
            case("frame_head_response_without_length").req("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
            ),
            case("frame_204_has_no_body")
                .get("/x")
                .answer(0, reply("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")),
            case("frame_304_has_no_body").get("/x").answer(
                0,
                reply("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"),
            ),
            case("frame_keepalive_two_requests_on_one_connection").get("/a").get("/b"),
            case("frame_client_connection_close_honoured")
                .req("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .eof(1000),
            case("frame_upstream_body_shorter_than_length_cut")
                .get("/x")
                .answer(0, reply("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")),
            case("frame_upstream_chunked_body_cut").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
            ),
            case("frame_upstream_body_longer_than_length_trimmed")
                .get("/x")
                .answer(0, reply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"))
                .get("/next"),
            case("frame_large_body_relayed").get("/x").answer(
                0,
                reply(&format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{big}", big.len())),
            ),
            case("frame_buffering_on_delays_headers_until_complete")
                .send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(150)
                .read()
                .answer(0, slow3())
                .timing(),
            case("frame_buffering_off_sends_headers_at_once")
                .send(b"GET /nobuf/x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(150)
                .raw(1200)
                .answer(0, slow3())
                .timing(),
            case("frame_x_accel_buffering_no_streams")
                .send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(150)
                .raw(1200)
                .answer(
                    0,
                    trickle(
                        &["HTTP/1.1 200 OK\r\nX-Accel-Buffering: no\r\nContent-Length: 3\r\n\r\n", "a", "b", "c"],
                        300,
                    ),
                )
                .timing(),
            case("frame_upstream_sends_body_in_pieces_chunked").get("/nobuf/x").answer(
                0,
                vec![
                    Act::Send(b"HTTP/1.1 200 OK\r\n\r\npart1-".to_vec()),
                    Act::Sleep(100),
                    Act::Send(b"part2".to_vec()),
                    Act::Close,
                ],
            ),
            // §4.5 client framing errors
            case("client_content_length_and_chunked_is_400").req(
                "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
            case("client_transfer_encoding_not_chunked_is_501")
                .req("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"),
            case("client_transfer_encoding_on_http10_is_400")
                .req("POST /x HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            case("client_http2_version_in_http1_line_is_505").req("GET /x HTTP/2.0\r\nHost: t\r\n\r\n"),
            case("client_trace_is_405").req("TRACE /x HTTP/1.1\r\nHost: t\r\n\r\n"),
            case("client_request_line_too_long_is_414")
                .req(&format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000))),
            case("client_header_too_large_is_400")
                .req(&format!("GET /x HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(9000))),
            case("client_bad_chunk_size_is_400").req(
                "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            ),
            case("client_garbage_request_line_is_400").req("HELLO\r\n\r\n"),
        ],
    };
    let client = Group {
        name: "client_requests",
        origins: 1,
        http: r#"
    server {
        listen 127.0.0.1:{L0};
        server_name client.test;
        location /p/ { proxy_pass http://127.0.0.1:{O0}; }
        location /r/ { return 200 "ret [$request_method] [$http_x_a] [$content_length]\n"; }
        location /nolocation-here-is-static { return 200 "x\n"; }
    }
    server {
        listen 127.0.0.1:{L1};
        server_name static.test;
    }
    server {
        listen 127.0.0.1:{L2};
        keepalive_requests 2;
        server_tokens off;
        location / { return 200 "k\n"; }
        location /p/ { proxy_pass http://127.0.0.1:{O0}; }
        location /dead/ { proxy_pass http://127.0.0.1:{DEAD}; }
        location /small/ { client_max_body_size 1; return 200 "never\n"; }
    }
    server {
        listen 127.0.0.1:{L3};
        keepalive_timeout 0;
        location / { return 200 "no keepalive\n"; }
    }
"#
        .into(),
        cases: vec![
            case("req_pipelined_requests_answered_in_order")
                .send(b"GET /r/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: t\r\n\r\n")
                .read()
                .read(),
            case("req_pipelined_after_body")
                .send(b"POST /p/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /r/2 HTTP/1.1\r\nHost: t\r\n\r\n")
                .read()
                .read(),
            case("req_http09_simple_request").send(b"GET /r/x\r\n").raw(1000),
            case("req_unknown_method_passed_upstream").req("FOO /p/m HTTP/1.1\r\nHost: t\r\n\r\n"),
            case("req_lowercase_method_is_400").req("get /r/x HTTP/1.1\r\nHost: t\r\n\r\n"),
            case("req_header_line_without_colon").req("GET /r/x HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n"),
            case("req_header_name_with_space_before_colon")
                .req("GET /r/x HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n"),
            case("req_expect_100_on_http10_not_answered")
                .req("POST /r/x HTTP/1.0\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"),
            case("req_expect_other_value_ignored")
                .req("POST /p/x HTTP/1.1\r\nHost: t\r\nExpect: something\r\nContent-Length: 2\r\n\r\nhi"),
            case("req_expect_100_on_return_location")
                .send(b"POST /r/x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
                .read()
                .send(b"hi")
                .read(),
            case("req_content_length_with_plus_sign")
                .req("POST /r/x HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\nhi"),
            case("req_content_length_with_leading_zeros")
                .req("POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 002\r\n\r\nhi"),
            case("req_chunked_body_with_trailer").req(
                "POST /p/t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
            ),
            case("req_get_with_body_forwarded")
                .req("GET /p/g HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"),
            case("req_connection_close_uppercase")
                .req("GET /r/x HTTP/1.1\r\nHost: t\r\nConnection: Close\r\n\r\n")
                .eof(1000),
            case("req_absolute_uri_with_other_port_redirect")
                .req("GET http://Client.Test:81/r HTTP/1.1\r\nHost: x\r\n\r\n"),
            case("req_no_location_static_404").port(1).get("/missing.txt"),
            case("req_no_location_root_index").port(1).get("/"),
            case("conn_keepalive_requests_limit_closes_after_last")
                .port(2)
                .get("/a")
                .get("/b")
                .eof(1000),
            case("conn_keepalive_timeout_0_closes").port(3).get("/").eof(1000),
            case("conn_server_tokens_off_on_proxied_response").port(2).get("/p/x"),
            case("conn_502_keeps_connection_for_next_request")
                .port(2)
                .get("/dead/")
                .get("/"),
            case("conn_413_closes_connection")
                .port(2)
                .req("POST /small/ HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
                .eof(1000),
            case("conn_400_closes_connection")
                .port(2)
                .req("GET / HTTP/1.1\r\n\r\n")
                .eof(1000),
            case("req_head_to_proxy_close_delimited")
                .req("HEAD /p/h HTTP/1.1\r\nHost: t\r\n\r\n")
                .answer(0, reply("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n")),
        ],
    };
    vec![g, client]
}
