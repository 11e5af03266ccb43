//! Location matching (SEMANTICS §3.1 URI normalisation, §3.2 the algorithm with its
//! table of confirmed outcomes, §3.4 the automatic trailing-slash redirect; trap 9).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name loc.test;
        location = / { return 200 "exact-root\n"; }
        location / { return 200 "root-prefix uri=[$uri] args=[$args] request_uri=[$request_uri] is_args=[$is_args]\n"; }
        location /documents/ { return 200 "documents [$uri]\n"; }
        location ^~ /images/ { return 200 "images [$uri]\n"; }
        location ~* \.(gif|jpg|jpeg)$ { return 200 "img-regex [$uri]\n"; }
        location ~ \.JPG$ { return 200 "JPG-regex\n"; }
        location /outer/ {
            location /outer/inner/ { return 200 "inner [$uri]\n"; }
            location ~ \.php$ { return 200 "nested-php [$uri]\n"; }
            return 200 "outer [$uri]\n";
        }
        location ~ ^/outer/x { return 200 "outer-x-regex\n"; }
        location /Case/ { return 200 "Case\n"; }
        location ~ ^/cap/(\d+)/(?<name>\w+)$ { return 200 "cap [$1] [$name] [$2]\n"; }
        location /api/ { proxy_pass http://127.0.0.1:{O0}; }
        location ~ ^/api$ { return 200 "api-regex\n"; }
        location /exapi/ { proxy_pass http://127.0.0.1:{O0}; }
        location = /exapi { return 200 "exact-exapi\n"; }
        location = /ex/ { proxy_pass http://127.0.0.1:{O0}; }
        location /ret/ { return 200 "ret\n"; }
        location =/glued { return 200 "glued-exact\n"; }
        location ~/glued-re/(\d+)$ { return 200 "glued-regex $1\n"; }
    }
"#
    .to_string();
    let loc = Group {
        name: "locations",
        origins: 1,
        http,
        cases: vec![
            // §3.1
            case("uri_merges_slashes").get("/a//b"),
            case("uri_drops_dot_segments").get("/a/./b"),
            case("uri_resolves_dotdot").get("/a/b/../c"),
            case("uri_dotdot_back_to_root").get("/a/.."),
            case("uri_dotdot_above_root_is_400").get("/../x"),
            case("uri_percent_decoded_before_matching").get("/%64ocuments/"),
            case("uri_encoded_dotdot_is_resolved").get("/documents/%2E%2E/images/x"),
            case("uri_encoded_slash_is_decoded").get("/a%2Fb"),
            case("uri_encoded_nul_is_400").get("/a/%00"),
            case("uri_raw_hash_ends_path").get("/a#frag"),
            case("uri_encoded_hash_stays_in_path").get("/a%23frag"),
            case("uri_query_is_not_decoded").get("/q?x=%20&y=a+b"),
            case("uri_empty_query_after_question_mark").get("/q?"),
            case("uri_trailing_dot_segment").get("/a/b/."),
            case("uri_double_dot_in_name_is_not_a_segment").get("/a/..b/c"),
            // §3.2
            case("loc_exact_root").get("/"),
            case("loc_root_prefix").get("/index.html"),
            case("loc_regex_beats_prefix").get("/documents/a.jpg"),
            case("loc_caret_tilde_skips_regexes").get("/images/a.jpg"),
            case("loc_first_regex_in_config_order_wins").get("/x/a.JPG"),
            case("loc_nested_regex_inside_nested_prefix").get("/outer/inner/a.php"),
            case("loc_nested_regex_before_outer_level_regex").get("/outer/x.php"),
            case("loc_outer_level_regex_beats_prefix").get("/outer/xyz"),
            case("loc_nested_prefix_chosen").get("/outer/inner/z"),
            case("loc_outer_prefix_when_no_nested_match").get("/outer/abc"),
            case("loc_prefix_needs_its_trailing_slash").get("/documents"),
            case("loc_prefix_match_is_case_sensitive").get("/case/x"),
            case("loc_regex_positional_and_named_captures").get("/cap/42/bob"),
            case("loc_caseless_regex_matches_uppercase").get("/x/a.GIF"),
            case("loc_glued_exact_modifier").get("/glued"),
            case("loc_glued_regex_modifier").get("/glued-re/7"),
            // §3.4
            case("autoredirect_301_to_slash_keeps_query").get("/api?x=1"),
            case("autoredirect_beats_regex_location").get("/api"),
            case("autoredirect_absolute_with_host_name_and_local_port")
                .req("GET /api HTTP/1.1\r\nHost: Foo.Test:9999\r\n\r\n"),
            case("autoredirect_without_host_uses_server_name").req("GET /api HTTP/1.0\r\n\r\n"),
            case("autoredirect_avoided_by_exact_location").get("/exapi"),
            case("autoredirect_also_for_exact_location_with_slash").get("/ex"),
            case("autoredirect_not_for_return_locations").get("/ret"),
            case("autoredirect_head_request").req("HEAD /api HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("autoredirect_encoded_uri_uses_decoded_path").get("/%61pi?z"),
        ],
    };
    vec![loc]
}
