//! `map` (SEMANTICS §6: case-insensitive string keys, `\` escapes, `''`, regexes with
//! captures, no regex on an empty source, default, hostnames, values with variables,
//! laziness and capture clobbering; traps 13, 14).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    map $http_x_key $m_key {
        default def;
        Foo foo-val;
        \default literal-default;
        \~tilde literal-tilde;
        '' empty-or-missing;
        ~^a(\d+)$ num-$1;
        ~*^CI(.*)$ ci-$1;
        ~^foo(?<tail>.*)$ regex1-$tail;
        ~^foo regex2;
        "with space" spaced;
    }
    map $http_x_e $m_empty_re { default def; ~^$ matched-empty; }
    map $http_x_n $m_nodefault { a is-a; }
    map $http_x_host $m_host {
        hostnames;
        default none;
        example.com exact;
        *.example.com front;
        *.deep.example.com front-deep;
        mail.* back;
        .dot.test dot;
    }
    map $http_x_v $m_var { default var-$http_x_v; fixed "lit $uri"; }
    map "$http_a:$http_b" $m_pair { "x:y" both; default "other:$http_a:$http_b"; }
    map $http_x_c $m_cap { ~^(abc)$ got-$1; default none; }
    map $http_x_chain $m_chain { default $m_key; }
    map $http_x_vol $m_vol { volatile; default v-$http_x_vol; }
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:{L0};
        location /key { return 200 "[$m_key]\n"; }
        location /empty { return 200 "[$m_empty_re]\n"; }
        location /nodef { return 200 "[$m_nodefault]\n"; }
        location /host { return 200 "[$m_host]\n"; }
        location /var { return 200 "[$m_var]\n"; }
        location /pair { return 200 "[$m_pair]\n"; }
        location ~ ^/clob/(z+)$ { return 200 "[$1] [$m_cap] [$1]\n"; }
        location ~ ^/capkeep/(z+)$ { return 200 "[$1] [$m_key]\n"; }
        location /chain { return 200 "[$m_chain]\n"; }
        location /vol { return 200 "[$m_vol]\n"; }
        location /upg { return 200 "[$connection_upgrade]\n"; }
        location /hdr/ {
            proxy_set_header X-Map $m_key;
            proxy_set_header X-Map-Again $m_key;
            proxy_pass http://127.0.0.1:{O0};
        }
    }
"#
    .to_string();
    let k = |v: &str| format!("X-Key: {v}\r\n");
    let g = Group {
        name: "map",
        origins: 1,
        http,
        cases: vec![
            case("map_string_key_matches_case_insensitively").get_h("/key", &k("FOO")),
            case("map_string_key_lowercase_input").get_h("/key", &k("foo")),
            case("map_escaped_default_is_a_literal_key").get_h("/key", &k("default")),
            case("map_escaped_tilde_is_a_literal_key").get_h("/key", &k("~tilde")),
            case("map_empty_key_matches_missing_source").get("/key"),
            case("map_empty_key_matches_empty_source").get_h("/key", "X-Key:\r\n"),
            case("map_regex_positional_capture_in_value").get_h("/key", &k("a42")),
            case("map_regex_is_case_sensitive").get_h("/key", &k("A42")),
            case("map_caseless_regex").get_h("/key", &k("cixyz")),
            case("map_regex_named_capture_in_value").get_h("/key", &k("foobar")),
            case("map_string_key_beats_regex").get_h("/key", &k("Foo")),
            case("map_first_regex_in_order_wins").get_h("/key", &k("fooq")),
            case("map_quoted_key_with_space").get_h("/key", &k("with space")),
            case("map_default_when_nothing_matches").get_h("/key", &k("zzz")),
            case("map_regex_never_tried_on_empty_source").get("/empty"),
            case("map_regex_tried_on_non_empty_source").get_h("/empty", "X-E: x\r\n"),
            case("map_without_default_is_empty").get_h("/nodef", "X-N: b\r\n"),
            case("map_hostnames_exact_lowercased_trailing_dot")
                .get_h("/host", "X-Host: EXAMPLE.COM.\r\n"),
            case("map_hostnames_leading_wildcard").get_h("/host", "X-Host: www.example.com\r\n"),
            case("map_hostnames_longest_leading_wildcard")
                .get_h("/host", "X-Host: a.deep.example.com\r\n"),
            case("map_hostnames_trailing_wildcard").get_h("/host", "X-Host: mail.foo.org\r\n"),
            case("map_hostnames_dot_form_bare").get_h("/host", "X-Host: dot.test\r\n"),
            case("map_hostnames_dot_form_subdomain").get_h("/host", "X-Host: a.dot.test\r\n"),
            case("map_hostnames_no_match_default").get_h("/host", "X-Host: nothing.org\r\n"),
            case("map_value_with_variable").get_h("/var", "X-V: hello\r\n"),
            case("map_value_string_with_variable").get_h("/var", "X-V: fixed\r\n"),
            case("map_complex_source").get_h("/pair", "A: x\r\nB: y\r\n"),
            case("map_complex_source_default_with_variables").get_h("/pair", "A: 1\r\nB: 2\r\n"),
            case("map_regex_clobbers_location_captures").get_h("/clob/zzz", "X-C: abc\r\n"),
            case("map_without_captures_keeps_location_captures").get_h("/capkeep/zz", &k("foo")),
            case("map_value_from_another_map").get_h("/chain", &k("a7")),
            case("map_volatile_evaluates").get_h("/vol", "X-Vol: 1\r\n"),
            case("map_result_in_proxy_set_header_twice").get_h("/hdr/x", &k("a1")),
            case("map_connection_upgrade_with_upgrade").get_h("/upg", "Upgrade: websocket\r\n"),
            case("map_connection_upgrade_without_upgrade").get("/upg"),
        ],
    };
    vec![g]
}
