//! Upstream groups (SEMANTICS §8.2 smooth weighted round robin, §8.3 least_conn, §8.4
//! ip_hash, §8.5 hash, §8.6 failures/backup/down, §8.7 every row of the
//! proxy_next_upstream table, §8.8/§4.11 keepalive, §8.9 error pages; traps 20–23),
//! observed through which origin port each request reached.

use super::run::*;

/// `count` requests to `path` on one client connection, each response read.
fn many(name: &'static str, path: &str, count: usize) -> Case {
    let mut c = case(name);
    for i in 0..count {
        c = c.get(&format!("{path}?n={i}"));
    }
    c
}

pub fn groups() -> Vec<Group> {
    let http = r#"
    upstream w511 { server 127.0.0.1:{O0} weight=5; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream eq { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream w21 { server 127.0.0.1:{O0} weight=2; server 127.0.0.1:{O1}; }
    upstream bk { server 127.0.0.1:{DEAD}; server 127.0.0.2:{DEAD}; server 127.0.0.1:{O2} backup; }
    upstream bkok { server 127.0.0.1:{O0}; server 127.0.0.1:{O2} backup; }
    upstream dn { server 127.0.0.1:{O0} down; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream mf { server 127.0.0.1:{DEAD}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream mf0 { server 127.0.0.1:{DEAD} max_fails=0; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream mf2 { server 127.0.0.1:{O0} max_fails=2; server 127.0.0.1:{O1}; }
    upstream ft { server 127.0.0.1:{O0} fail_timeout=1s; server 127.0.0.1:{O1}; }
    upstream one_dead { server 127.0.0.1:{DEAD}; }
    upstream all_down { server 127.0.0.1:{O0} down; }
    upstream ih { ip_hash; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream ihdown { ip_hash; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2} down; }
    upstream hs { hash $arg_k; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream hc { hash $arg_k consistent; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream lc { least_conn; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream nu1 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu2 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu3 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu4 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu5 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu6 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu7 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; server 127.0.0.1:{O2}; }
    upstream nu8 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu9 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu10 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu11 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu12 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu13 { server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    upstream nu14 { server 127.0.0.1:{DEAD}; server 127.0.0.1:{O1}; }
    upstream ka { server 127.0.0.1:{O0}; keepalive 4; }
    upstream ka_after_hash { keepalive 4; ip_hash; server 127.0.0.1:{O0}; }
    upstream hash_then_ka { ip_hash; server 127.0.0.1:{O0}; keepalive 4; }
    upstream ka_req { server 127.0.0.1:{O0}; keepalive 4; keepalive_requests 2; }
    upstream ka_time { server 127.0.0.1:{O0}; keepalive 4; keepalive_time 1s; }
    server {
        listen 127.0.0.1:{L0};
        location /w511 { proxy_pass http://w511; }
        location /eq { proxy_pass http://eq; }
        location /w21 { proxy_pass http://w21; }
        location /bk { proxy_pass http://bk; }
        location /bkok { proxy_pass http://bkok; }
        location /dn { proxy_pass http://dn; }
        location /mf0 { proxy_pass http://mf0; }
        location /mf2 { proxy_pass http://mf2; }
        location /mf { proxy_pass http://mf; }
        location /ft { proxy_pass http://ft; }
        location /one_dead { proxy_pass http://one_dead; }
        location /all_down { proxy_pass http://all_down; }
        location /ihdown { proxy_pass http://ihdown; }
        location /ih { proxy_pass http://ih; }
        location /hs { proxy_pass http://hs; }
        location /hc { proxy_pass http://hc; }
        location /lc { proxy_pass http://lc; }
        location /nu1 { proxy_pass http://nu1; }
        location /nu2 { proxy_next_upstream error timeout http_502; proxy_pass http://nu2; }
        location /nu3 { proxy_pass http://nu3; }
        location /nu4 { proxy_pass http://nu4; }
        location /nu5 { proxy_next_upstream error timeout non_idempotent; proxy_pass http://nu5; }
        location /nu6 { proxy_next_upstream off; proxy_pass http://nu6; }
        location /nu7 { proxy_next_upstream_tries 2; proxy_pass http://nu7; }
        location /nu8 { proxy_next_upstream error http_404; proxy_pass http://nu8; }
        location /nu9 { proxy_next_upstream error http_500; proxy_pass http://nu9; }
        location /nu10 { proxy_pass http://nu10; }
        location /nu11 { proxy_next_upstream error invalid_header; proxy_pass http://nu11; }
        location /nu12 { proxy_next_upstream error http_403; proxy_pass http://nu12; }
        location /nu13 { proxy_next_upstream error http_503 http_429; proxy_pass http://nu13; }
        location /nu14 { proxy_pass http://nu14; }
        location /ka/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka; }
        location /ka-default/ { proxy_pass http://ka; }
        location /ka-after-hash/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka_after_hash; }
        location /hash-then-ka/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://hash_then_ka; }
        location /ka-req/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka_req; }
        location /ka-time/ { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka_time; }
        location /dead/ { proxy_pass http://127.0.0.1:{DEAD}; }
    }
"#
    .to_string();
    let e502 = |o: usize| {
        resp(
            "502 Bad Gateway",
            "Content-Type: text/plain\r\n",
            &format!("502 from origin {o}\n"),
        )
    };
    let st = |code: &str, o: usize| resp(code, "", &format!("{code} from origin {o}\n"));
    let post =
        |path: &str| format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody");
    let ka = || keep("200 OK", "", "kept\n");
    let g = Group {
        name: "upstream",
        origins: 3,
        http,
        cases: vec![
            many("rr_weights_5_1_1_give_a_a_b_a_c_a_a", "/w511", 7),
            many("rr_equal_weights_rotate", "/eq", 6),
            many("rr_weights_2_1_interleave", "/w21", 6),
            many("rr_backup_used_when_primaries_dead", "/bk", 3),
            many("rr_backup_idle_while_primary_lives", "/bkok", 3),
            many("rr_down_peer_never_used", "/dn", 4),
            many("rr_failed_peer_skipped_for_fail_timeout", "/mf", 5),
            many("rr_max_fails_0_never_marks_peer", "/mf0", 4),
            many("rr_max_fails_2_needs_two_failures", "/mf2", 5).answer(0, hang_up()),
            many("rr_failed_peer_probed_after_fail_timeout", "/ft", 2)
                .sleep(1500)
                .get("/ft?n=after")
                .origin(0, vec![hang_up(), default_ok(0)]),
            many("single_peer_group_never_marked_down", "/one_dead", 3),
            case("all_peers_down_is_502_no_live_upstreams").get("/all_down"),
            case("implicit_group_refused_is_502").get("/dead/"),
            many("ip_hash_127_0_0_1_goes_to_third_peer", "/ih", 3),
            many("ip_hash_down_peer_remaps_only_its_clients", "/ihdown", 2),
            many("ip_hash_same_slash24_same_peer", "/ih", 2).source_ip([127, 0, 0, 9]),
            many("ip_hash_other_slash24_peer", "/ih", 2).source_ip([127, 0, 7, 1]),
            many("ip_hash_third_slash24_peer", "/ih", 2).source_ip([127, 1, 2, 3]),
            case("hash_key_picks_peer")
                .get("/hs?k=1")
                .get("/hs?k=2")
                .get("/hs?k=3")
                .get("/hs?k=4")
                .get("/hs?k=abc"),
            case("hash_empty_key_falls_back_to_round_robin")
                .get("/hs")
                .get("/hs")
                .get("/hs"),
            case("hash_consistent_key_picks_peer")
                .get("/hc?k=1")
                .get("/hc?k=2")
                .get("/hc?k=3")
                .get("/hc?k=4")
                .get("/hc?k=abc"),
            many("least_conn_sequential_requests_round_robin", "/lc", 4),
            // §8.7 table
            case("next_upstream_502_not_retried_by_default")
                .get("/nu1")
                .answer(0, e502(0))
                .answer(1, e502(1)),
            case("next_upstream_http_502_listed_retries_and_passes_last")
                .get("/nu2")
                .answer(0, e502(0))
                .answer(1, e502(1)),
            case("next_upstream_close_without_answer_get_retried_then_502")
                .get("/nu3")
                .answer(0, hang_up())
                .answer(1, hang_up()),
            case("next_upstream_post_not_retried_after_send")
                .req(&post("/nu4"))
                .answer(0, hang_up())
                .answer(1, hang_up()),
            case("next_upstream_non_idempotent_retries_post")
                .req(&post("/nu5"))
                .answer(0, hang_up())
                .answer(1, hang_up()),
            case("next_upstream_off_never_retries")
                .get("/nu6")
                .answer(0, hang_up())
                .answer(1, hang_up()),
            case("next_upstream_tries_caps_attempts")
                .get("/nu7")
                .answer(0, hang_up())
                .answer(1, hang_up())
                .answer(2, hang_up()),
            case("next_upstream_http_404_retries_to_success")
                .get("/nu8")
                .answer(0, st("404 Not Found", 0)),
            case("next_upstream_http_500_retries_to_success")
                .get("/nu9")
                .answer(0, st("500 Internal Server Error", 0)),
            case("next_upstream_invalid_header_counts_but_not_retried_by_default")
                .get("/nu10")
                .answer(0, reply("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"))
                .answer(1, reply("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n")),
            case("next_upstream_invalid_header_listed_retries")
                .get("/nu11")
                .answer(0, reply("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n")),
            case("next_upstream_http_403_listed_retries")
                .get("/nu12")
                .answer(0, st("403 Forbidden", 0)),
            case("next_upstream_503_and_429_listed")
                .get("/nu13")
                .get("/nu13")
                .origin(
                    0,
                    vec![st("503 Service Unavailable", 0), st("429 Too Many", 0)],
                )
                .answer(1, st("429 Too Many", 1)),
            case("next_upstream_connect_refused_post_is_retried")
                .req(&post("/nu14"))
                .req(&post("/nu14")),
            // §4.11 / §8.8
            many("keepalive_pool_reuses_upstream_connection", "/ka/", 3).answer(0, ka()),
            many(
                "keepalive_needs_http11_and_no_connection_close",
                "/ka-default/",
                3,
            )
            .answer(0, ka()),
            many("keepalive_before_ip_hash_is_disabled", "/ka-after-hash/", 3).answer(0, ka()),
            many("keepalive_after_ip_hash_works", "/hash-then-ka/", 3).answer(0, ka()),
            // Upstream `keepalive_requests 2`: a connection carries two requests, then
            // closes (nginx 1.22's default is 1000).
            many("keepalive_requests_closes_after_n", "/ka-req/", 5).answer(0, ka()),
            // `keepalive_time 1s`: the connection is parked after the first request, and
            // closed after the first request that ends more than 1 s after it opened.
            case("keepalive_time_closes_old_connection")
                .get("/ka-time/a")
                .sleep(1100)
                .get("/ka-time/b")
                .get("/ka-time/c")
                .answer(0, ka()),
            case("keepalive_upstream_connection_close_not_reused")
                .get("/ka/a")
                .get("/ka/b")
                .answer(
                    0,
                    vec![
                        super::origin::Act::Send(
                            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nc\n"
                                .to_vec(),
                        ),
                        super::origin::Act::KeepAlive,
                    ],
                ),
        ],
    };
    vec![g]
}

fn default_ok(i: usize) -> super::origin::Script {
    super::origin::default_script(i)
}
