//! SEMANTICS §12, one case (at least) per trap that a running proxy can show. Traps that
//! are about configuration checking or signals (8, 29, 30, 31) belong to the
//! conformance and CLI suites, and TLS (32) is not served yet: they are listed as skipped
//! with that reason.

use super::origin::{default_script, Act};
use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    upstream backend { server 127.0.0.1:{O0}; }
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    map $http_x_key $trap_map { Foo string-key; ~^(a)(b)$ re-$2$1; '' missing; }
    proxy_set_header X-Http-Level 1;
    server {
        listen 127.0.0.1:{L0};
        server_name First.Trap.test second.trap.test;
        location /up/ { proxy_pass http://backend; }
        location /plain/ { proxy_pass http://127.0.0.1:{O0}; }
        location /own/ { proxy_set_header X-Own 1; proxy_pass http://127.0.0.1:{O0}; }
        location /empty/ { proxy_set_header Accept-Encoding ""; proxy_pass http://127.0.0.1:{O0}; }
        location /noslash { proxy_pass http://127.0.0.1:{O0}/dst; }
        location /raw/ { proxy_pass http://127.0.0.1:{O0}; }
        location /var/ { proxy_pass http://127.0.0.1:{O0}$uri; }
        location /api/ { proxy_pass http://127.0.0.1:{O0}; }
        location ~ ^/api { return 200 "regex\n"; }
        location /ws/ {
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /nows/ { proxy_http_version 1.1; proxy_pass http://127.0.0.1:{O0}; }
        location /map { return 200 "[$trap_map]\n"; }
        location /http { return 200 "dup=[$http_x_dup] cookie=[$http_cookie] xff=[$http_x_forwarded_for]\n"; }
        location /names { return 200 "server_name=[$server_name] host=[$host]\n"; }
        location /bodyoff/ { proxy_pass_request_body off; proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    let ws_req = "GET /ws/chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let g = Group {
        name: "traps",
        origins: 1,
        http,
        cases: vec![
            case("trap01_host_default_is_upstream_group_name").get("/up/x"),
            case("trap02_default_upstream_request_is_http10_with_close").get("/plain/x"),
            case("trap03_one_set_header_erases_inherited_list").get("/own/x"),
            case("trap04_empty_value_removes_client_header")
                .get_h("/empty/x", "Accept-Encoding: gzip\r\n"),
            case("trap05_uri_part_without_slash_glues_prefix").get("/noslashy/z"),
            case("trap06_no_uri_part_forwards_raw_target").get("/raw/a/../b//c%41?q=%7e"),
            case("trap07_variable_uri_is_decoded_and_drops_query").get("/var/a%20b?q=1"),
            case("trap08_literal_uri_part_rejected_in_regex_location")
                .skip("configuration check, covered by the conformance suite (tests/conf-invalid)"),
            case("trap09_auto_301_beats_regex_location").get("/api?x=1"),
            case("trap10_upgrade_stripped_without_explicit_headers").get_h(
                "/nows/x",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n",
            ),
            case("trap10_tunnel_only_with_101_and_client_upgrade")
                .send(ws_req.as_bytes())
                .read()
                .send(b"ping")
                .raw(300)
                .answer(0, upgrade_echo("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")),
            case("trap10_bytes_right_after_101_relayed")
                .send(ws_req.as_bytes())
                .read()
                .raw(300)
                .answer(
                    0,
                    vec![
                        Act::Send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello-first".to_vec()),
                        Act::Echo,
                    ],
                ),
            // nginx forwards what the client sent right behind the head (`r->header_in`)
            // once the tunnel is up.
            case("trap10_client_bytes_behind_the_upgrade_head_relayed")
                .send(format!("{ws_req}early-bytes").as_bytes())
                .read()
                .raw(300)
                .answer(0, upgrade_echo("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")),
            case("trap10_101_without_client_upgrade_is_not_a_tunnel")
                .get("/ws/plain")
                .raw(500)
                .answer(0, reply("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nafter-101")),
            case("trap10_non_101_answer_keeps_http_connection")
                .send(ws_req.as_bytes())
                .read()
                .get("/plain/after")
                .origin(0, vec![resp("400 Bad Request", "", "no upgrade\n"), default_script(0)]),
            case("trap11_tunnel_idle_timeout_closes_silently")
                .send(ws_req.as_bytes())
                .read()
                .eof(3000)
                .answer(0, upgrade_echo(""))
                .timing(),
            case("trap11_tunnel_traffic_resets_idle_timer")
                .send(ws_req.as_bytes())
                .read()
                .sleep(600)
                .send(b"a")
                .sleep(600)
                .send(b"b")
                .sleep(600)
                .send(b"c")
                .raw(200)
                .eof(3000)
                .answer(0, upgrade_echo(""))
                .timing(),
            case("trap12_client_half_close_ends_tunnel")
                .send(ws_req.as_bytes())
                .read()
                .send(b"x")
                .raw(200)
                .half_close()
                .eof(2000)
                .answer(0, upgrade_echo(""))
                .timing(),
            case("trap13_map_string_keys_case_insensitive").get_h("/map", "X-Key: FOO\r\n"),
            case("trap13_map_empty_key_matches_missing").get("/map"),
            case("trap14_map_regex_captures").get_h("/map", "X-Key: ab\r\n"),
            case("trap15_http_var_first_header_only_except_cookie_and_xff").get_h(
                "/http",
                "X-Dup: a\r\nX-Dup: b\r\nCookie: c=1\r\nCookie: d=2\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n",
            ),
            case("trap19_server_name_is_first_name_host_lowercased")
                .req("GET /names HTTP/1.1\r\nHost: SECOND.Trap.Test\r\n\r\n"),
            case("trap25_underscore_and_hop_headers_dropped").get_h(
                "/plain/x",
                "X_Under: 1\r\nTE: gzip\r\nKeep-Alive: 1\r\nExpect: x\r\nUpgrade: y\r\nProxy-Connection: kept\r\n",
            ),
            case("trap27_pass_request_body_off_still_sends_content_length").req(
                "PUT /bodyoff/x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
            ),
            case("trap29_reload_parses_config_in_signaller")
                .skip("signals and -s, covered by the CLI tests (tests/cli.rs)"),
            case("trap30_dash_t_binds_and_prints_syntax_ok")
                .skip("`-t`, covered by the conformance suite"),
            case("trap31_no_dollar_escape_in_strings")
                .skip("configuration lexing, covered by the parser tests checked against nginx"),
            case("trap32_tls_defaults_exclude_tls13").skip("TLS listeners are not served by sluice yet"),
            case("trap34_non_http_reply_relayed_raw")
                .send(b"GET /plain/x HTTP/1.0\r\nHost: t\r\n\r\n")
                .raw(800)
                .eof(300)
                .answer(0, reply("GARBAGE\nno status line\n")),
        ],
    };
    vec![g]
}
