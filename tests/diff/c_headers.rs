//! The request header block sent upstream (SEMANTICS §4.3 order, drops, duplicates,
//! underscores; §4.4 `proxy_set_header` inheritance, empty values,
//! `proxy_pass_request_headers`/`_body`; §4.5 request bodies; §4.9 X-Forwarded-For;
//! traps 2, 3, 4, 25, 27).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    proxy_set_header X-From-Http http;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:{L0};
        location /plain/ { proxy_set_header X-Plain 1; proxy_pass http://127.0.0.1:{O0}; }
        location /inherit/ { proxy_pass http://127.0.0.1:{O0}; }
        location /own/ { proxy_set_header X-Loc loc; proxy_pass http://127.0.0.1:{O0}; }
        location /empty/ {
            proxy_set_header User-Agent "";
            proxy_set_header X-Maybe $http_x_maybe;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /host/ { proxy_set_header Host $host; proxy_pass http://127.0.0.1:{O0}; }
        location /hostport/ { proxy_set_header Host $host:$server_port; proxy_pass http://127.0.0.1:{O0}; }
        location /httphost/ { proxy_set_header Host $http_host; proxy_pass http://127.0.0.1:{O0}; }
        location /xff/ {
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /nohdrs/ { proxy_pass_request_headers off; proxy_set_header X-Kept yes; proxy_pass http://127.0.0.1:{O0}; }
        location /nobody/ { proxy_pass_request_body off; proxy_pass http://127.0.0.1:{O0}; }
        location /nobodylen/ {
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_pass http://127.0.0.1:{O0};
        }
        location /order/ {
            proxy_set_header X-B b;
            proxy_set_header x-lower-as-written a;
            proxy_set_header Accept "text/forced";
            proxy_set_header Connection keep-alive;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /vals/ {
            proxy_set_header X-Vals "$request_method $uri $args $is_args $scheme $server_name $request_uri";
            proxy_set_header X-Http-Dup $http_x_dup;
            proxy_set_header X-Cookie $http_cookie;
            proxy_set_header X-Cookie-A $cookie_a;
            proxy_set_header X-Arg-K $arg_k;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /ws/ {
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_pass http://127.0.0.1:{O0};
        }
        location /http11/ { proxy_http_version 1.1; proxy_pass http://127.0.0.1:{O0}; }
        location /small/ { client_max_body_size 10; proxy_pass http://127.0.0.1:{O0}; }
        location / { proxy_pass http://127.0.0.1:{O0}; }
    }
    server {
        listen 127.0.0.1:{L1};
        proxy_set_header X-From-Server srv;
        location / { proxy_pass http://127.0.0.1:{O0}; }
        location /loc/ { proxy_set_header X-Loc2 l; proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let g = Group {
        name: "request_headers",
        origins: 1,
        http,
        cases: vec![
            // §4.3
            case("hdr_set_headers_then_defaults_then_client_headers").get_h(
                "/plain/x",
                "User-Agent: diff/1\r\nAccept: */*\r\nX-Client: c\r\n",
            ),
            case("hdr_client_host_and_connection_never_forwarded")
                .get_h("/plain/x", "Connection: keep-alive\r\nX-After: 1\r\n"),
            case("hdr_te_keepalive_expect_upgrade_dropped").get_h(
                "/plain/x",
                "TE: trailers\r\nKeep-Alive: 300\r\nUpgrade: websocket\r\nX-Keep: 1\r\n",
            ),
            case("hdr_proxy_connection_is_forwarded").get_h("/plain/x", "Proxy-Connection: keep-alive\r\n"),
            case("hdr_connection_nominated_headers_still_forwarded")
                .get_h("/plain/x", "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"),
            case("hdr_duplicate_client_headers_forwarded_in_order")
                .get_h("/plain/x", "X-Dup: a\r\nX-Other: o\r\nX-Dup: b\r\n"),
            case("hdr_underscore_names_dropped").get_h("/plain/x", "X_Under: 1\r\nX-Ok: 2\r\n"),
            case("hdr_name_case_preserved").get_h("/plain/x", "X-MiXeD-Case: v\r\nx-lower: w\r\n"),
            case("hdr_value_whitespace_trimmed").get_h("/plain/x", "X-Sp:    v  w   \r\nX-Tab:\tt\t\r\n"),
            case("hdr_empty_value_forwarded").get_h("/plain/x", "X-Empty:\r\nX-Next: n\r\n"),
            case("hdr_http10_client_headers").req("GET /plain/x HTTP/1.0\r\nHost: test\r\nX-A: 1\r\n\r\n"),
            case("hdr_client_content_length_regenerated").req(&post("/plain/p", "hello")),
            case("hdr_chunked_body_sent_with_content_length").req(
                "POST /plain/c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            ),
            case("hdr_expect_100_continue_answered_by_proxy")
                .send(b"POST /plain/e HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
                .read()
                .send(b"hello")
                .read(),
            case("hdr_empty_post_sends_content_length_0").req(&post("/plain/p0", "")),
            case("hdr_client_max_body_size_413").req(&post("/small/", "01234567890")),
            case("hdr_client_max_body_size_chunked_413").req(
                "POST /small/ HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n",
            ),
            // §4.4
            case("hdr_http_level_set_header_inherited").get("/inherit/x"),
            case("hdr_own_set_header_erases_inherited_list").get("/own/x"),
            case("hdr_server_level_set_header_inherited").port(1).get("/x"),
            case("hdr_location_list_erases_server_list").port(1).get("/loc/x"),
            case("hdr_empty_value_removes_header_and_client_copy")
                .get_h("/empty/x", "User-Agent: curl/8\r\nX-Maybe: \r\n"),
            case("hdr_variable_value_sent_when_non_empty").get_h("/empty/x", "X-Maybe: yes\r\n"),
            case("hdr_host_from_host_variable").req("GET /host/x HTTP/1.1\r\nHost: Mixed.Case:123\r\n\r\n"),
            case("hdr_host_variable_without_client_host_is_server_name")
                .req("GET /host/x HTTP/1.0\r\n\r\n"),
            case("hdr_host_with_server_port").get("/hostport/x"),
            case("hdr_http_host_is_raw").req("GET /httphost/x HTTP/1.1\r\nHost: Mixed.Case:123\r\n\r\n"),
            case("hdr_http_host_missing_removes_host").req("GET /httphost/x HTTP/1.0\r\n\r\n"),
            case("hdr_set_header_order_and_override").get_h(
                "/order/x",
                "accept: a/b\r\nX-B: client\r\nConnection: close\r\nX-Z: z\r\n",
            ),
            case("hdr_pass_request_headers_off").get_h("/nohdrs/x", "X-Gone: 1\r\n"),
            case("hdr_pass_request_body_off_keeps_content_length").req(&post("/nobody/x", "hello")),
            case("hdr_pass_request_body_off_with_content_length_removed")
                .req(&post("/nobodylen/x", "hello")),
            case("hdr_variables_in_values").get_h(
                "/vals/a%20b?k=v&x",
                "X-Dup: first\r\nX-Dup: second\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n",
            ),
            case("hdr_http11_upstream_request_line").get("/http11/x"),
            case("hdr_websocket_recipe_with_upgrade")
                .get_h("/ws/x", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n"),
            case("hdr_websocket_recipe_plain_request_sends_close").get("/ws/x"),
            // §4.9
            case("xff_client_header_passed_through_by_default")
                .get_h("/plain/x", "X-Forwarded-For: 10.0.0.1\r\n"),
            case("xff_proxy_add_appends_remote_addr").get("/xff/x"),
            case("xff_proxy_add_joins_client_headers")
                .get_h("/xff/x", "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"),
        ],
    };
    vec![g]
}
