//! Access control (`ngx_http_access_module`, `internal`): rules in order, first match
//! decides; lists inherited all-or-nothing; the access phase runs after `return`
//! (rewrite phase) and after the automatic trailing-slash redirect; `internal` locations
//! are 404 from outside, nested ones too.

use super::c_auth::basic;
use super::run::*;
use std::path::Path;

fn prepare_limit_except(dir: &Path) -> std::io::Result<()> {
    super::c_auth::prepare_auth(dir)?;
    for d in ["static", "staticpost", "order1", "order2", "tf"] {
        let p = dir.join("www").join(d);
        std::fs::create_dir_all(&p)?;
        std::fs::write(p.join("f"), format!("file in {d}\n"))?;
    }
    Ok(())
}

pub fn groups() -> Vec<Group> {
    let mut g = vec![access_group()];
    g.push(limit_except_group());
    g.push(realip_group());
    g.push(stub_status_group());
    g
}

/// `limit_except`: the methods it names use the location's configuration, the others
/// the block's (a nested location: own access rules and auth, the location's
/// `proxy_pass` inherited, its rewrite-module instructions and `try_files` not).
fn limit_except_group() -> Group {
    prepare("limit_except", prepare_limit_except);
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        root {DIR}/www;
        location /get/ { limit_except GET { deny all; } proxy_pass http://127.0.0.1:{O0}; }
        location /post/ { limit_except POST { deny all; } proxy_pass http://127.0.0.1:{O0}; }
        location /multi/ { limit_except GET POST { deny all; } proxy_pass http://127.0.0.1:{O0}; }
        location /lower/ { limit_except get { deny all; } proxy_pass http://127.0.0.1:{O0}; }
        location /allowed/ { limit_except GET { allow 127.0.0.1; deny all; } proxy_pass http://127.0.0.1:{O0}; }
        location /ret/ { limit_except GET { deny all; } return 200 "ret
"; }
        location /retallow/ { limit_except GET { allow all; } return 200 "ret
"; }
        location /static/ { limit_except GET { deny all; } }
        location /staticpost/ { limit_except GET { allow all; } }
        location /auth/ { limit_except GET { auth_basic "writes"; auth_basic_user_file htpasswd; } proxy_pass http://127.0.0.1:{O0}; }
        location /ownproxy/ { limit_except GET { proxy_pass http://127.0.0.1:{O1}; } proxy_pass http://127.0.0.1:{O0}; }
        location /outerdeny/ { deny all; limit_except GET { allow all; } proxy_pass http://127.0.0.1:{O0}; }
        location /inherit/ {
            limit_except GET { deny all; }
            location /inherit/child/ { proxy_pass http://127.0.0.1:{O0}; }
        }
        location /satisfy/ { satisfy any; limit_except GET { deny all; auth_basic "w"; auth_basic_user_file htpasswd; } proxy_pass http://127.0.0.1:{O0}; }
        location /tf/ { limit_except GET { allow all; } try_files /nothing =404; }
        location /order1/ { allow 127.0.0.1; deny all; }
        location /order2/ { deny all; allow 127.0.0.1; }
        location /order3/ { deny 127.0.0.2; allow 127.0.0.0/8; deny all; proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    let post = |p: &str| format!("POST {p} HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi");
    let m = |meth: &str, p: &str| format!("{meth} {p} HTTP/1.1\r\nHost: test\r\n\r\n");
    let ok = basic("plain:secret");
    Group {
        name: "limit_except",
        origins: 2,
        http,
        cases: vec![
            case("limit_except_get_passes").get("/get/x"),
            case("limit_except_get_implies_head").req(&m("HEAD", "/get/x")),
            case("limit_except_post_denied")
                .req(&post("/get/x"))
                .errlog(),
            case("limit_except_put_delete_options_denied")
                .req(&m("PUT", "/get/x"))
                .req(&m("DELETE", "/get/x"))
                .req(&m("OPTIONS", "/get/x"))
                .req(&m("PATCH", "/get/x"))
                .req(&m("PROPFIND", "/get/x")),
            case("limit_except_unknown_method_denied").req(&m("FOO", "/get/x")),
            case("limit_except_trace_is_405_first").req(&m("TRACE", "/get/x")),
            case("limit_except_post_only_denies_get")
                .get("/post/x")
                .req(&post("/post/x")),
            case("limit_except_post_does_not_imply_head").req(&m("HEAD", "/post/x")),
            case("limit_except_several_methods")
                .get("/multi/x")
                .req(&post("/multi/x"))
                .req(&m("PUT", "/multi/x")),
            case("limit_except_method_names_are_caseless")
                .get("/lower/x")
                .req(&post("/lower/x")),
            case("limit_except_block_allow_trusted_client").req(&post("/allowed/x")),
            case("limit_except_block_deny_other_client")
                .source_ip([127, 0, 0, 2])
                .req(&post("/allowed/x"))
                .get("/allowed/x"),
            case("limit_except_location_return_not_inherited")
                .get("/ret/x")
                .req(&post("/ret/x")),
            case("limit_except_allowed_method_skips_location_return").req(&post("/retallow/x")),
            case("limit_except_static_files")
                .get("/static/f")
                .req(&m("HEAD", "/static/f"))
                .req(&post("/static/f")),
            case("limit_except_allowed_post_to_static_is_405").req(&post("/staticpost/f")),
            case("limit_except_auth_basic_for_writes")
                .get("/auth/x")
                .req(&post("/auth/x"))
                .req(&format!(
                    "POST /auth/x HTTP/1.1\r\nHost: test\r\n{ok}Content-Length: 2\r\n\r\nhi"
                )),
            case("limit_except_own_proxy_pass")
                .get("/ownproxy/x")
                .req(&post("/ownproxy/x")),
            case("limit_except_block_allow_overrides_location_deny")
                .get("/outerdeny/x")
                .req(&post("/outerdeny/x")),
            case("limit_except_not_inherited_by_nested_location").req(&post("/inherit/child/x")),
            case("limit_except_with_satisfy_any")
                .req(&post("/satisfy/x"))
                .req(&format!(
                    "POST /satisfy/x HTTP/1.1\r\nHost: test\r\n{ok}Content-Length: 2\r\n\r\nhi"
                )),
            case("limit_except_block_has_no_try_files")
                .get("/tf/f")
                .req(&m("DELETE", "/tf/f")),
            case("deny_order_allow_first").get("/order1/f"),
            case("deny_order_deny_all_first").get("/order2/f").errlog(),
            case("deny_order_specific_before_network")
                .get("/order3/x")
                .source_ip([127, 0, 0, 2]),
            case("deny_order_specific_client_denied")
                .source_ip([127, 0, 0, 2])
                .get("/order3/x"),
        ],
    }
}

/// The realip module: trusted senders, `X-Real-IP`, `X-Forwarded-For` (recursive or
/// not), another header; the server's settings apply before the location is chosen,
/// the location's in the pre-access phase (after `return`); `allow`/`deny`, `ip_hash`,
/// `$remote_addr` and the proxied `X-Forwarded-For` see the client's address.
fn realip_group() -> Group {
    let seen = r#"proxy_set_header X-Seen "$remote_addr|$realip_remote_addr"; proxy_set_header X-Fwd $proxy_add_x_forwarded_for;"#;
    let http = r#"
    upstream iph { ip_hash; server 127.0.0.1:{O0}; server 127.0.0.1:{O1}; }
    server {
        listen 127.0.0.1:{L0};
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        location / { proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /port/ { proxy_pass http://127.0.0.1:{O0}; proxy_set_header X-Port "[$remote_port]"; }
        location /deny/ { deny 1.2.3.4; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /allowonly/ { allow 1.2.3.0/24; deny all; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /ret/ { return 200 "$remote_addr $realip_remote_addr
"; }
        location /locxr/ { real_ip_header X-Real-IP; proxy_pass http://127.0.0.1:{O0}; SEEN }
    }
    server {
        listen 127.0.0.1:{L1};
        location /xr/ { set_real_ip_from 127.0.0.1; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /rec/ { set_real_ip_from 127.0.0.1; set_real_ip_from 10.0.0.0/8; real_ip_header X-Forwarded-For; real_ip_recursive on; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /nrec/ { set_real_ip_from 127.0.0.1; set_real_ip_from 10.0.0.0/8; real_ip_header X-Forwarded-For; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /cust/ { set_real_ip_from 127.0.0.1; real_ip_header X-Client; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /deny/ { set_real_ip_from 127.0.0.1; deny 1.2.3.4; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /retloc/ { set_real_ip_from 127.0.0.1; return 200 "$remote_addr
"; }
        location /untrusted/ { set_real_ip_from 10.0.0.0/8; proxy_pass http://127.0.0.1:{O0}; SEEN }
        location /net/ { set_real_ip_from 127.0.0.0/30; proxy_pass http://127.0.0.1:{O0}; SEEN }
    }
    server {
        listen 127.0.0.1:{L2};
        set_real_ip_from 127.0.0.1;
        location / { proxy_pass http://iph; }
    }
"#
    .replace("SEEN", seen);
    let xff = |p: &str, v: &str| {
        format!("GET {p} HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {v}\r\n\r\n")
    };
    let xri =
        |p: &str, v: &str| format!("GET {p} HTTP/1.1\r\nHost: test\r\nX-Real-IP: {v}\r\n\r\n");
    Group {
        name: "realip",
        origins: 2,
        http,
        cases: vec![
            case("realip_no_header_keeps_address").get("/a"),
            case("realip_xff_last_address").req(&xff("/a", "5.5.5.5, 1.2.3.4")),
            case("realip_xff_with_port").req(&xff("/port/", "1.2.3.4:8080")),
            case("realip_xff_without_port_has_no_remote_port").req(&xff("/port/", "1.2.3.4")),
            case("realip_xff_ipv6").req(&xff("/a", "::1")),
            case("realip_xff_garbage_is_ignored").req(&xff("/a", "garbage")),
            case("realip_xff_trailing_separators").req(&xff("/a", "1.2.3.4 , ")),
            case("realip_xff_several_headers").req(
                "GET /a HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
            ),
            case("realip_untrusted_source_ignored")
                .source_ip([127, 0, 0, 2])
                .req(&xff("/a", "1.2.3.4")),
            case("realip_deny_sees_real_address").req(&xff("/deny/", "1.2.3.4")).errlog(),
            case("realip_deny_other_real_address_passes").req(&xff("/deny/", "1.2.3.5")),
            case("realip_allow_network_of_real_address")
                .req(&xff("/allowonly/", "1.2.3.77"))
                .req(&xff("/allowonly/", "1.2.4.1"))
                .get("/allowonly/"),
            case("realip_untrusted_cannot_forge_allowed_address")
                .source_ip([127, 0, 0, 2])
                .req(&xff("/allowonly/", "1.2.3.77")),
            case("realip_server_level_applies_before_return").req(&xff("/ret/", "1.2.3.4")),
            case("realip_server_level_wins_over_location")
                .req(&xri("/locxr/", "7.7.7.7"))
                .req(&xff("/locxr/", "7.7.7.7")),
            case("realip_location_x_real_ip").req(&xri("/xr/", "7.7.7.7")),
            case("realip_location_x_real_ip_with_list").req(&xri("/xr/", "7.7.7.7, 8.8.8.8")),
            case("realip_location_x_real_ip_first_header").req(
                "GET /xr/ HTTP/1.1\r\nHost: test\r\nX-Real-IP: 7.7.7.7\r\nX-Real-IP: 9.9.9.9\r\n\r\n",
            ),
            case("realip_location_recursive").req(&xff("/rec/", "5.5.5.5, 10.1.1.1, 10.2.2.2")),
            case("realip_location_recursive_all_trusted").req(&xff("/rec/", "10.1.1.1, 10.2.2.2")),
            case("realip_location_recursive_stops_at_garbage")
                .req(&xff("/rec/", "5.5.5.5, junk, 10.2.2.2")),
            case("realip_location_recursive_across_headers").req(
                "GET /rec/ HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 6.6.6.6, 5.5.5.5\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n",
            ),
            case("realip_location_not_recursive").req(&xff("/nrec/", "5.5.5.5, 10.1.1.1, 10.2.2.2")),
            case("realip_location_custom_header").req(
                "GET /cust/ HTTP/1.1\r\nHost: test\r\nx-client: 3.3.3.3\r\nX-Client: 3.3.3.5\r\n\r\n",
            ),
            case("realip_location_deny_sees_real_address").req(&xri("/deny/", "1.2.3.4")),
            case("realip_location_settings_after_return").req(&xri("/retloc/", "7.7.7.7")),
            case("realip_location_untrusted").req(&xri("/untrusted/", "7.7.7.7")),
            case("realip_trusted_network")
                .req(&xri("/net/", "7.7.7.7"))
                .source_ip([127, 0, 0, 2]),
            case("realip_trusted_network_other_source")
                .source_ip([127, 0, 0, 9])
                .req(&xri("/net/", "7.7.7.7")),
            case("realip_ip_hash_uses_real_address")
                .port(2)
                .req(&xri("/h", "1.1.1.1"))
                .req(&xri("/h", "2.2.2.2"))
                .req(&xri("/h", "3.3.3.3"))
                .req(&xri("/h", "4.4.4.4"))
                .req(&xri("/h", "5.5.5.5"))
                .req(&xri("/h", "6.6.6.6")),
        ],
    }
}

/// `stub_status`: the exact layout (the figures depend on each program's history and
/// are masked), GET/HEAD only, access rules in front of it, `$connections_*`.
fn stub_status_group() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        location = /status { stub_status; }
        location = /basic { stub_status basic_status; }
        location = /guarded { allow 10.0.0.1; deny all; stub_status; }
        location = /vars { return 200 "$connections_active $connections_reading $connections_writing $connections_waiting
"; }
    }
"#
    .to_string();
    Group {
        name: "stub_status",
        origins: 0,
        http,
        cases: vec![
            case("stub_status_layout").get("/status").mask_digits(),
            case("stub_status_with_argument")
                .get("/basic")
                .mask_digits(),
            case("stub_status_head")
                .req("HEAD /status HTTP/1.1\r\nHost: test\r\n\r\n")
                .mask_digits(),
            case("stub_status_http10")
                .req("GET /status HTTP/1.0\r\n\r\n")
                .mask_digits(),
            case("stub_status_post_is_405")
                .req("POST /status HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi")
                .get("/status")
                .mask_digits(),
            case("stub_status_behind_deny").get("/guarded"),
            case("connections_variables").get("/vars").mask_digits(),
        ],
    }
}

fn access_group() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        location /denyall/ { deny all; proxy_pass http://127.0.0.1:{O0}; }
        location /allowlocal/ { allow 127.0.0.1; deny all; proxy_pass http://127.0.0.1:{O0}; }
        location /denylocalnet/ { deny 127.0.0.0/8; allow all; proxy_pass http://127.0.0.1:{O0}; }
        location /othernet/ { allow 10.0.0.0/8; deny all; proxy_pass http://127.0.0.1:{O0}; }
        location /firstmatch/ { allow 127.0.0.0/8; deny 127.0.0.1; proxy_pass http://127.0.0.1:{O0}; }
        location /v6only/ { deny ::1; proxy_pass http://127.0.0.1:{O0}; }
        location /lowbits/ { deny 127.0.0.1/8; proxy_pass http://127.0.0.1:{O0}; }
        location /inherit/ {
            deny all;
            location /inherit/child/ { proxy_pass http://127.0.0.1:{O0}; }
        }
        location /override/ {
            deny all;
            location /override/child/ { allow all; proxy_pass http://127.0.0.1:{O0}; }
        }
        location /retfirst/ { deny all; return 200 "return runs before access\n"; }
        location /static/ { deny all; }
        location /slash/ { deny all; proxy_pass http://127.0.0.1:{O0}; }
        location /internal/ { internal; proxy_pass http://127.0.0.1:{O0}; }
        location /int/ {
            internal;
            location /int/nested/ { proxy_pass http://127.0.0.1:{O0}; }
        }
        location = /intexact { internal; return 200 "not reached\n"; }
        location / { proxy_pass http://127.0.0.1:{O0}; }
    }
    server {
        listen 127.0.0.1:{L1};
        deny all;
        location / { proxy_pass http://127.0.0.1:{O0}; }
        location /open/ { allow all; proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    Group {
        name: "access",
        origins: 1,
        http,
        cases: vec![
            case("deny_all_is_403").get("/denyall/x"),
            case("allow_matching_client_passes").get("/allowlocal/x"),
            case("deny_matching_network_is_403").get("/denylocalnet/x"),
            case("no_rule_matches_then_deny_all").get("/othernet/x"),
            case("first_matching_rule_wins").get("/firstmatch/x"),
            case("ipv6_rule_does_not_match_ipv4_client").get("/v6only/x"),
            case("low_address_bits_are_cleared").get("/lowbits/x"),
            case("nested_location_inherits_rules").get("/inherit/child/x"),
            case("nested_rules_replace_parent_rules").get("/override/child/x"),
            case("return_answers_before_access").get("/retfirst/x"),
            case("deny_applies_to_static_content").get("/static/x"),
            case("auto_redirect_comes_before_access").get("/slash"),
            case("access_403_keeps_the_connection")
                .get("/denyall/a")
                .get("/x"),
            case("access_403_discards_the_body")
                .req("POST /denyall/p HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody")
                .get("/x"),
            case("access_403_with_expect_continue").req(
                "POST /denyall/e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            ),
            case("internal_404_with_expect_continue").req(
                "POST /internal/e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            ),
            case("return_with_expect_continue").req(
                "POST /retfirst/e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            ),
            case("internal_location_is_404_from_outside").get("/internal/x"),
            case("nested_location_of_internal_is_internal").get("/int/nested/x"),
            case("internal_beats_return").get("/intexact"),
            case("server_level_deny_inherited").port(1).get("/x"),
            case("location_allow_overrides_server_deny")
                .port(1)
                .get("/open/x"),
            case("encoded_path_reaches_the_same_rule").get("/%64enyall/x"),
            case("dot_segments_reach_the_same_rule").get("/other/../denyall/x"),
            case("double_slash_reaches_the_same_rule").get("//denyall//x"),
        ],
    }
}
