//! The response relayed to the client (SEMANTICS §4.6 status, hidden headers,
//! `proxy_pass_header`, header order, `add_header` codes and `always`; §4.7
//! `proxy_redirect`; trap 34).

use super::origin::default_script;
use super::run::*;

const D: &str = ORIGIN_DATE;

pub fn groups() -> Vec<Group> {
    let http = r#"
    add_header X-Http http-level;
    server {
        listen 127.0.0.1:{L0};
        location / { proxy_pass http://127.0.0.1:{O0}; }
        location /passhdr/ { proxy_pass_header Server; proxy_pass_header Date; proxy_pass http://127.0.0.1:{O0}; }
        location /hide/ { proxy_hide_header X-Secret; proxy_pass http://127.0.0.1:{O0}; }
        location /add/ {
            add_header X-Added yes;
            add_header X-Always yes always;
            add_header X-Empty "";
            add_header X-Var "$request_method-$status";
            proxy_pass http://127.0.0.1:{O0};
        }
        location /addret/ { add_header X-Added yes; add_header X-Always yes always; return 200 "r\n"; }
        location /addret404/ { add_header X-Added yes; add_header X-Always yes always; return 404; }
        location /rd/ { proxy_pass http://127.0.0.1:{O0}/loc/; }
        location /rdoff/ { proxy_redirect off; proxy_pass http://127.0.0.1:{O0}; }
        location /rdexp/ { proxy_redirect http://127.0.0.1:{O0}/loc/ /mapped/; proxy_pass http://127.0.0.1:{O0}; }
        location /rdre/ { proxy_redirect ~^http://[^/]+/re/(.*)$ /got/$1; proxy_pass http://127.0.0.1:{O0}; }
        location /rdtwo/ {
            proxy_redirect http://a.test/ /first/;
            proxy_redirect http://a.test/x/ /second/;
            proxy_pass http://127.0.0.1:{O0};
        }
    }
"#
    .to_string();
    let s = |status: &str, headers: &str, body: &str| resp(status, headers, body);
    let g = Group {
        name: "response",
        origins: 1,
        http,
        cases: vec![
            case("resp_status_code_and_reason_passed_through")
                .get("/x")
                .answer(0, s("299 Whatever Reason", "", "b")),
            case("resp_status_line_without_reason")
                .get("/x")
                .answer(0, reply("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nb")),
            case("resp_header_order_fixed_fields_then_upstream_order").get("/x").answer(
                0,
                s(
                    "200 OK",
                    "X-B: b\r\nLocation: /moved\r\nX-A: a\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/x\r\nX-C: c\r\n",
                    "body",
                ),
            ),
            case("resp_lowercase_special_header_names").get("/x").answer(
                0,
                s("200 OK", "content-type: text/y\r\nx-lower: l\r\nlast-modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n", "b"),
            ),
            case("resp_server_and_date_hidden_by_default").get("/x").answer(
                0,
                s("200 OK", &format!("Server: origin/1\r\nDate: {D}\r\nX-Kept: k\r\n"), "b"),
            ),
            case("resp_pass_header_server_and_date").get("/passhdr/x").answer(
                0,
                s("200 OK", &format!("Server: origin/1\r\nDate: {D}\r\n"), "b"),
            ),
            case("resp_x_accel_and_x_pad_hidden_other_x_accel_pass").get("/x").answer(
                0,
                s(
                    "200 OK",
                    "X-Pad: p\r\nX-Accel-Expires: 5\r\nX-Accel-Foo: foo\r\n",
                    "b",
                ),
            ),
            case("resp_x_accel_limit_rate_throttles_response")
                .get("/x")
                .skip("X-Accel-Limit-Rate (response rate limiting) is not implemented in sluice"),
            case("resp_x_accel_charset_hidden").get("/x").answer(
                0,
                s("200 OK", "Content-Type: text/html\r\nX-Accel-Charset: koi8-r\r\n", "b"),
            ),
            case("resp_204_drops_content_type_and_length").get("/x").answer(
                0,
                reply("HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n"),
            ),
            case("resp_304_keeps_content_type").get("/x").answer(
                0,
                reply("HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nETag: \"e\"\r\n\r\n"),
            ),
            case("resp_two_content_types").get("/x").answer(
                0,
                s("200 OK", "Content-Type: text/a\r\nX-M: m\r\nContent-Type: text/b\r\n", "b"),
            ),
            case("resp_header_block_just_under_buffer").get("/x").answer(
                0,
                s("200 OK", &format!("X-Big: {}\r\n", "y".repeat(3900)), "b"),
            ),
            case("resp_header_block_just_over_buffer").get("/x").answer(
                0,
                s("200 OK", &format!("X-Big: {}\r\n", "y".repeat(4080)), "b"),
            ),
            case("resp_content_length_and_chunked_together").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
            ),
            case("resp_duplicate_content_length").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"),
            ),
            case("resp_100_continue_before_final_response").get("/x").answer(
                0,
                reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            ),
            case("resp_space_before_colon_in_header").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok"),
            ),
            case("resp_underscore_header_from_upstream_passed").get("/x").answer(
                0,
                s("200 OK", "X_Up: 1\r\n", "b"),
            ),
            case("resp_lowercase_location_rewritten").get("/x").answer(
                0,
                s("302 Found", "location: http://127.0.0.1:{O0}/lc\r\n", ""),
            ),
            case("resp_lowercase_location_foreign").get("/x").answer(
                0,
                s("302 Found", "location: http://elsewhere.test/lc\r\n", ""),
            ),
            case("resp_lf_only_line_endings").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nok"),
            ),
            case("resp_http10_upstream_with_length").get("/x").get("/y").answer(
                0,
                reply("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            ),
            case("resp_empty_reply_is_502").get("/x").answer(0, hang_up()),
            case("resp_status_line_garbage_after_http")
                .send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(800)
                .answer(0, reply("HTTP/1.1 abc\r\n\r\n")),
            case("resp_http2_status_line_is_not_http1")
                .send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(800)
                .answer(0, reply("HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok")),
            case("resp_hide_header_adds_to_hidden_set")
                .get("/hide/x")
                .answer(0, s("200 OK", "X-Secret: s\r\nX-Public: p\r\n", "b")),
            case("resp_connection_keepalive_te_consumed").get("/x").answer(
                0,
                s("200 OK", "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-After: 1\r\n", "b"),
            ),
            case("resp_upgrade_trailer_proxy_connection_copied").get("/x").answer(
                0,
                s("200 OK", "Upgrade: h2c\r\nTrailer: X-T\r\nProxy-Connection: keep-alive\r\n", "b"),
            ),
            case("resp_duplicate_headers_kept_in_order").get("/x").answer(
                0,
                s("200 OK", "Set-Cookie: a=1\r\nX-Mid: m\r\nSet-Cookie: b=2\r\n", "b"),
            ),
            case("resp_header_value_whitespace").get("/x").answer(
                0,
                s("200 OK", "X-Sp:    spaced   \r\nX-Empty:\r\n", "b"),
            ),
            case("resp_invalid_header_line_is_502").get("/x").answer(
                0,
                reply("HTTP/1.1 200 OK\r\nBad Header Line\r\nContent-Length: 1\r\n\r\nb"),
            ),
            case("resp_header_larger_than_buffer_is_502").get("/x").answer(
                0,
                s("200 OK", &format!("X-Big: {}\r\n", "x".repeat(5000)), "b"),
            ),
            case("resp_non_http_reply_relayed_raw")
                .send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                .raw(800)
                .get("/after")
                .origin(0, vec![reply("GARBAGE-NOT-HTTP\nline2\n"), default_script(0)]),
            case("resp_http10_status_line_from_upstream")
                .get("/x")
                .answer(0, reply("HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\nold body")),
            // add_header
            case("add_header_on_200_inherits_nothing_from_http").get("/add/x"),
            case("add_header_http_level_inherited_without_own").get("/x"),
            case("add_header_absent_on_404_unless_always")
                .get("/add/x")
                .answer(0, s("404 Not Found", "", "nf")),
            case("add_header_absent_on_500_unless_always")
                .get("/add/x")
                .answer(0, s("500 Internal Server Error", "", "e")),
            case("add_header_on_201").get("/add/x").answer(0, s("201 Created", "", "c")),
            case("add_header_on_204").get("/add/x").answer(0, reply("HTTP/1.1 204 No Content\r\n\r\n")),
            case("add_header_on_206").get("/add/x").answer(0, s("206 Partial Content", "", "p")),
            case("add_header_on_301").get("/add/x").answer(0, s("301 Moved", "Location: /y\r\n", "")),
            case("add_header_on_302").get("/add/x").answer(0, s("302 Found", "Location: /y\r\n", "")),
            case("add_header_on_303").get("/add/x").answer(0, s("303 See Other", "Location: /y\r\n", "")),
            case("add_header_on_304").get("/add/x").answer(0, reply("HTTP/1.1 304 Not Modified\r\n\r\n")),
            case("add_header_on_307").get("/add/x").answer(0, s("307 Temp", "Location: /y\r\n", "")),
            case("add_header_on_308").get("/add/x").answer(0, s("308 Perm", "Location: /y\r\n", "")),
            case("add_header_absent_on_202").get("/add/x").answer(0, s("202 Accepted", "", "a")),
            case("add_header_absent_on_400").get("/add/x").answer(0, s("400 Bad", "", "a")),
            case("add_header_on_return_200").get("/addret/x"),
            case("add_header_on_return_404_only_always").get("/addret404/x"),
            case("add_header_on_nginx_502_only_always")
                .get("/add/x")
                .answer(0, hang_up()),
            // §4.7
            case("redirect_default_no_uri_part_rewrites_location").get("/x").answer(
                0,
                s("302 Found", "Location: http://127.0.0.1:{O0}/loc/x\r\n", ""),
            ),
            case("redirect_default_refresh_rewritten_not_absolute").get("/x").answer(
                0,
                s("200 OK", "Refresh: 5; url=http://127.0.0.1:{O0}/r/y\r\n", "b"),
            ),
            case("redirect_default_with_uri_part_maps_to_location_name").get("/rd/x").answer(
                0,
                s("302 Found", "Location: http://127.0.0.1:{O0}/loc/sub?q=1\r\n", ""),
            ),
            case("redirect_default_leaves_foreign_location").get("/x").answer(
                0,
                s("302 Found", "Location: http://other.test/x\r\n", ""),
            ),
            case("redirect_relative_location_made_absolute")
                .get("/x")
                .answer(0, s("302 Found", "Location: /rel?a=b\r\n", "")),
            case("redirect_relative_location_without_slash_kept")
                .get("/x")
                .answer(0, s("302 Found", "Location: rel/x\r\n", "")),
            case("redirect_off_leaves_location").get("/rdoff/x").answer(
                0,
                s("302 Found", "Location: http://127.0.0.1:{O0}/loc/x\r\n", ""),
            ),
            case("redirect_explicit_pair").get("/rdexp/x").answer(
                0,
                s("302 Found", "Location: http://127.0.0.1:{O0}/loc/x\r\n", ""),
            ),
            case("redirect_explicit_replaces_default").get("/rdexp/x").answer(
                0,
                s("302 Found", "Location: http://127.0.0.1:{O0}/other/x\r\n", ""),
            ),
            case("redirect_regex_rule_with_capture").get("/rdre/x").answer(
                0,
                s("302 Found", "Location: http://upstream.test/re/abc\r\n", ""),
            ),
            case("redirect_first_matching_rule_wins").get("/rdtwo/x").answer(
                0,
                s("302 Found", "Location: http://a.test/x/y\r\n", ""),
            ),
            case("redirect_location_on_201").get("/x").answer(
                0,
                s("201 Created", "Location: http://127.0.0.1:{O0}/new/1\r\n", "c"),
            ),
        ],
    };
    vec![g]
}
