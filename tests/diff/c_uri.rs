//! The URI sent upstream (SEMANTICS §4.1 targets and `$proxy_host`, §4.2 every row of
//! the table; traps 1, 5, 6, 7).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    upstream backend { server 127.0.0.1:{O0}; }
    map $arg_t $target { default backend; ip 127.0.0.1:{O0}; }
    server {
        listen 127.0.0.1:{L0};
        location /nouri/ { proxy_pass http://127.0.0.1:{O0}; }
        location /withuri/ { proxy_pass http://127.0.0.1:{O0}/new/; }
        location /noslash { proxy_pass http://127.0.0.1:{O0}/dst; }
        location /slashonly/ { proxy_pass http://127.0.0.1:{O0}/; }
        location = /exact { proxy_pass http://127.0.0.1:{O0}/e; }
        location ~ ^/re/(.*)$ { proxy_pass http://127.0.0.1:{O0}/captured/$1; }
        location ~ ^/re2/ { proxy_pass http://127.0.0.1:{O0}; }
        location /var2/ { proxy_pass http://127.0.0.1:{O0}$uri; }
        location /var3/ { proxy_pass http://127.0.0.1:{O0}$request_uri; }
        location /var4/ { proxy_pass http://127.0.0.1:{O0}$uri$is_args$args; }
        location /rw/ { rewrite ^/rw/(.*)$ /changed/$1 break; proxy_pass http://127.0.0.1:{O0}/ignored/; }
        location /up/ { proxy_pass http://backend/u/; }
        location /upnouri/ { proxy_pass http://backend; }
        location /dyn/ { proxy_pass http://$target; }
        location /dynuri/ { proxy_pass http://$target/fixed/path?a=1; }
        location /vars/ {
            proxy_set_header X-PH $proxy_host;
            proxy_set_header X-PP $proxy_port;
            proxy_pass http://127.0.0.1:{O0}/v/;
        }
        location /localhost/ { proxy_pass http://localhost:{O0}; }
        location /dflport/ { proxy_set_header X-PH $proxy_host; proxy_set_header X-PP $proxy_port; proxy_pass http://backend; }
    }
"#
    .to_string();
    let g = Group {
        name: "upstream_uri",
        origins: 1,
        http,
        cases: vec![
            case("uri_without_uri_part_sends_raw_target").get("/nouri/a//b/../c%41?x=1&y=%20"),
            case("uri_part_replaces_location_prefix").get("/withuri/a/b?x=1"),
            case("uri_part_reencodes_and_merges_decoded_slash").get("/withuri/a%20b/%2F?q"),
            case("uri_part_reencodes_decoded_percent_hash_question").get("/withuri/p%25c%23h%3Fq"),
            case("uri_part_unescaped_uri_sent_as_decoded").get("/withuri/c%41d"),
            case("uri_part_keeps_utf8_escapes").get("/withuri/%C3%A9t%C3%A9"),
            case("uri_part_sends_normalised_path").get("/withuri/a//b/./c/../d"),
            case("uri_part_reserved_characters_decoded").get("/withuri/%3B%3D%2B%40%3A%27"),
            case("uri_part_without_slash_replaces_prefix").get("/noslash/x"),
            case("uri_part_replaces_prefix_inside_a_word").get("/noslashy"),
            case("uri_part_slash_only").get("/slashonly/p?q=1"),
            case("uri_part_slash_only_merged_slashes").get("/slashonly//p//q"),
            case("uri_part_empty_query_dropped").get("/withuri/a?"),
            case("uri_part_location_name_only").get("/withuri/"),
            case("uri_part_on_exact_location").get("/exact?a=b"),
            case("uri_part_from_regex_capture_is_decoded_and_drops_args").get("/re/abc%20d?z=1"),
            case("uri_regex_location_without_uri_part_sends_raw").get("/re2/a//b?q"),
            case("uri_variable_uri_is_decoded_and_drops_args").get("/var2/a%20b?x=1"),
            case("uri_request_uri_variable_is_raw").get("/var3/a//b?x=1"),
            case("uri_variable_with_explicit_args").get("/var4/a?x=1&y=2"),
            case("uri_rewrite_break_replaces_uri").get("/rw/a/b?x=1"),
            case("uri_upstream_group_host_is_group_name").get("/up/x?y"),
            case("uri_upstream_group_without_uri_part").get("/upnouri/a%2fb?c"),
            case("uri_variable_naming_a_group_uses_it").get("/dyn/p?q=1"),
            case("uri_variable_with_ip_literal").get("/dyn/p?t=ip"),
            case("uri_variable_url_with_uri_part_is_verbatim").get("/dynuri/x?b=2"),
            case("uri_proxy_host_and_port_variables").get("/vars/x"),
            case("uri_proxy_port_80_for_group").get("/dflport/"),
            case("uri_hostname_target_resolved_at_load").get("/localhost/z"),
            case("uri_head_method_passed").req("HEAD /nouri/h HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("uri_custom_method_passed")
                .req("PROPFIND /nouri/m HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("uri_http10_client_request_line")
                .req("GET /nouri/old HTTP/1.0\r\nHost: test\r\n\r\n"),
            case("uri_absolute_form_request_target_sent_as_path")
                .req("GET http://test/nouri/abs?q HTTP/1.1\r\nHost: other\r\n\r\n"),
        ],
    };
    vec![g]
}
