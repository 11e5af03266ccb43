//! Access control (`ngx_http_access_module`, `internal`): rules in order, first match
//! decides; lists inherited all-or-nothing; the access phase runs after `return`
//! (rewrite phase) and after the automatic trailing-slash redirect; `internal` locations
//! are 404 from outside, nested ones too.

use super::run::*;

pub fn groups() -> Vec<Group> {
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
    vec![Group {
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
    }]
}
