//! Server selection (SEMANTICS §2.1–§2.4; traps 16–19): server_name forms and lookup
//! order, Host normalisation and rejection, HTTP/1.0 without Host, address before name.

use super::run::*;

fn named(names: &str, tag: &str) -> String {
    format!(
        "    server {{\n        listen 127.0.0.1:{{L0}};\n        server_name {names};\n        location / {{ return 200 \"{tag} [$server_name] [$host]\\n\"; }}\n    }}\n"
    )
}

pub fn groups() -> Vec<Group> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .unwrap_or_else(|_| "localhost".into());
    let mut http = String::new();
    http.push_str(&named("first.test", "first"));
    http.push_str(
        "    server {\n        listen 127.0.0.1:{L0} default_server;\n        server_name def.test;\n        location / { return 200 \"default [$server_name] [$host]\\n\"; }\n    }\n",
    );
    http.push_str(
        "    server {\n        listen 127.0.0.1:{L0};\n        location / { return 200 \"nameless [$server_name] [$host]\\n\"; }\n    }\n",
    );
    http.push_str(&named("exact.test alias.test", "exact"));
    http.push_str(&named("*.example.com", "front"));
    http.push_str(&named("*.b.example.com", "front-long"));
    http.push_str(&named("mail.*", "back"));
    http.push_str(&named("mail.other.*", "back-long"));
    http.push_str(&named(
        "~^.*\\.example\\.com$ ~^(?<sub>.+)\\.regex\\.test$",
        "regex",
    ));
    http.push_str(&named("~^(?<first>[a-z]+)\\.order\\.test$", "regex-first"));
    http.push_str(&named("~^[a-z]+\\.order\\.test$", "regex-second"));
    http.push_str(&named(".dot.test", "dot"));
    http.push_str(&named("~^CASE\\.test$", "regex-upper"));
    http.push_str(&named("~^lower\\.test$", "regex-lower"));
    http.push_str(&named("_", "underscore"));
    http.push_str(&named("$hostname", "machine-hostname"));
    http.push_str(&named("dup.test", "dup-first"));
    http.push_str(&named("dup.test", "dup-second"));
    let h = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let names = Group {
        name: "server_names",
        origins: 0,
        http,
        cases: vec![
            case("server_exact_name_selected").req(&h("exact.test")),
            case("server_alias_reports_first_name_in_server_name").req(&h("alias.test")),
            case("server_host_lowercased_and_port_stripped").req(&h("ExAct.TEST:8080")),
            case("server_host_trailing_dot_stripped").req(&h("exact.test.")),
            case("server_leading_wildcard_matches").req(&h("www.example.com")),
            case("server_leading_wildcard_covers_several_labels").req(&h("a.b.c.d.example.com")),
            case("server_longest_leading_wildcard_wins").req(&h("x.b.example.com")),
            case("server_leading_wildcard_beats_trailing").req(&h("mail.example.com")),
            case("server_trailing_wildcard_matches").req(&h("mail.foo.org")),
            case("server_longest_trailing_wildcard_wins").req(&h("mail.other.org")),
            case("server_wildcard_beats_regex").req(&h("q.example.com")),
            case("server_regex_named_capture_is_a_variable").req(&h("abc.regex.test")),
            case("server_first_matching_regex_in_config_order").req(&h("abc.order.test")),
            case("server_dot_name_matches_bare_domain").req(&h("dot.test")),
            case("server_dot_name_matches_subdomain").req(&h("x.dot.test")),
            case("server_regex_with_uppercase_is_caseless").req(&h("case.test")),
            case("server_regex_lowercase_matches_lowercased_host").req(&h("LOWER.test")),
            case("server_underscore_is_an_ordinary_name").req(&h("_")),
            case("server_duplicate_name_first_server_keeps_it").req(&h("dup.test")),
            case("server_unknown_host_goes_to_default_server").req(&h("nope.test")),
            case("server_http10_without_host_goes_to_nameless_server")
                .req("GET / HTTP/1.0\r\n\r\n"),
            case("server_http10_with_host_uses_it")
                .req("GET / HTTP/1.0\r\nHost: exact.test\r\n\r\n"),
            case("server_http11_without_host_is_400").req("GET / HTTP/1.1\r\n\r\n"),
            case("server_two_host_headers_are_400")
                .req("GET / HTTP/1.1\r\nHost: exact.test\r\nHost: alias.test\r\n\r\n"),
            case("server_empty_host_is_400").req("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            case("server_host_with_slash_is_400").req(&h("a/b.test")),
            case("server_host_with_dotdot_is_400").req(&h("a..b.test")),
            case("server_host_with_space_is_400").req(&h("a b.test")),
            case("server_hostname_variable_name").req(&h(&hostname)),
            case("server_absolute_uri_host_beats_host_header")
                .req("GET http://exact.test/x HTTP/1.1\r\nHost: nope.test\r\n\r\n"),
            case("server_absolute_uri_host_with_port")
                .req("GET http://Alias.Test:81/x HTTP/1.1\r\nHost: nope.test\r\n\r\n"),
        ],
    };
    let addr_first = Group {
        name: "server_address_first",
        origins: 0,
        http: r#"
    server {
        listen 127.0.0.1:{L0};
        server_name specific.test;
        location / { return 200 "specific [$server_name]\n"; }
    }
    server {
        listen {L0};
        server_name named.test;
        location / { return 200 "wildcard [$server_name]\n"; }
    }
"#
        .into(),
        cases: vec![
            case("server_specific_address_hides_wildcard_server_names")
                .req("GET / HTTP/1.1\r\nHost: named.test\r\n\r\n"),
            case("server_other_address_reaches_wildcard_listen")
                .ip([127, 0, 0, 2])
                .req("GET / HTTP/1.1\r\nHost: named.test\r\n\r\n"),
            case("server_other_address_default_is_first_wildcard_server")
                .ip([127, 0, 0, 2])
                .req("GET / HTTP/1.1\r\nHost: specific.test\r\n\r\n"),
        ],
    };
    vec![names, addr_first]
}
