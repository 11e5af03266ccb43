//! `auth_request` (`ngx_http_auth_request_module`): a subrequest to a location in the
//! access phase; 2xx lets the request through, 401 (with the subrequest's
//! `WWW-Authenticate`) and 403 are answered, anything else is 500. What the auth origin
//! receives is compared too: the subrequest carries the client's headers and no body.
//! `auth_request_set` evaluates on the subrequest (`$upstream_http_*`).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    upstream authpool { server 127.0.0.1:{O0}; keepalive 4; }
    server {
        listen 127.0.0.1:{L0};
        location = /auth_vars {
            internal;
            proxy_pass http://127.0.0.1:{O0};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Request $request;
            proxy_set_header X-Uri $uri;
            proxy_set_header X-Args "[$args] [$is_args] [$query_string]";
            proxy_set_header X-Request-Uri $request_uri;
            proxy_set_header X-Content-Length "[$content_length] [$http_content_length]";
        }
        location /vars/ { auth_request /auth_vars; proxy_pass http://127.0.0.1:{O1}; }
        location = /auth_ka {
            internal;
            proxy_pass http://authpool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location /ka/ { auth_request /auth_ka; proxy_pass http://127.0.0.1:{O1}; }
        location /hdr/ {
            auth_request /auth;
            auth_request_set $auth_user $upstream_http_x_user;
            add_header X-Auth-User $auth_user always;
            proxy_pass http://127.0.0.1:{O1};
        }
        location /setep/ {
            auth_request /auth;
            auth_request_set $auth_user $upstream_http_x_user;
            error_page 401 403 = @denied;
            proxy_pass http://127.0.0.1:{O1};
        }
        location /small/ { client_max_body_size 2; auth_request /auth; proxy_pass http://127.0.0.1:{O1}; }
        location /args/ {
            auth_request /auth;
            auth_request_set $args "user=$upstream_http_x_user";
            proxy_pass http://127.0.0.1:{O1};
        }
        location /via-rewrite/ { rewrite ^/via-rewrite/(.*)$ /app/$1 last; }
        location /via-error-page/ { error_page 404 = /app/from-ep; return 404; }
        location /via-named/ { error_page 404 = @guarded; return 404; }
        location /via-try-files/ { try_files /nonexistent @guarded; }
        location @guarded { auth_request /auth; proxy_pass http://127.0.0.1:{O1}; }
        location @denied { return 200 "denied user=$auth_user status=$status\n"; }
        location = /auth {
            internal;
            proxy_pass http://127.0.0.1:{O0};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }
        location = /auth_plain {
            internal;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:{O0};
        }
        location = /auth_nobody {
            internal;
            proxy_pass_request_body off;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:{O0}/check;
        }
        location = /auth_down { internal; proxy_pass http://127.0.0.1:{DEAD}; }
        location = /auth_204 { internal; return 204; }
        location = /auth_401 {
            internal;
            add_header WWW-Authenticate "Basic realm=ret" always;
            return 401;
        }
        location = /auth_404 { internal; root {DIR}/none; }
        location = /auth_open { return 200 "auth location reached\n"; }
        location = /auth_ep {
            internal;
            error_page 502 = /auth_204;
            proxy_pass http://127.0.0.1:{DEAD};
        }
        location /app/ { auth_request /auth; proxy_pass http://127.0.0.1:{O1}; }
        location /plain/ { auth_request /auth_plain; proxy_pass http://127.0.0.1:{O1}; }
        location /nobody/ { auth_request /auth_nobody; proxy_pass http://127.0.0.1:{O1}; }
        location /down/ { auth_request /auth_down; proxy_pass http://127.0.0.1:{O1}; }
        location /ret204/ { auth_request /auth_204; proxy_pass http://127.0.0.1:{O1}; }
        location /ret401/ { auth_request /auth_401; proxy_pass http://127.0.0.1:{O1}; }
        location /missing/ { auth_request /auth_404; proxy_pass http://127.0.0.1:{O1}; }
        location /open/ { auth_request /auth_open; proxy_pass http://127.0.0.1:{O1}; }
        location /epauth/ { auth_request /auth_ep; proxy_pass http://127.0.0.1:{O1}; }
        location /set/ {
            auth_request /auth;
            auth_request_set $auth_user $upstream_http_x_user;
            auth_request_set $auth_status $upstream_status;
            proxy_set_header X-User $auth_user;
            proxy_set_header X-Auth-Status $auth_status;
            proxy_pass http://127.0.0.1:{O1};
        }
        location /nested/ {
            auth_request /auth;
            proxy_pass http://127.0.0.1:{O1};
            location /nested/open/ { auth_request off; proxy_pass http://127.0.0.1:{O1}; }
        }
        location /ep401/ {
            auth_request /auth;
            error_page 401 = /login;
            proxy_pass http://127.0.0.1:{O1};
        }
        location /ep403/ {
            auth_request /auth;
            error_page 403 /login;
            proxy_pass http://127.0.0.1:{O1};
        }
        location /denied/ { deny all; auth_request /auth; proxy_pass http://127.0.0.1:{O1}; }
        location /retfirst/ { auth_request /auth; return 200 "return runs first\n"; }
        location /static/ { auth_request /auth; root {DIR}/none; }
        location = /login { return 200 "login page\n"; }
    }
    server {
        listen 127.0.0.1:{L1};
        auth_request /auth;
        location = /auth {
            proxy_pass http://127.0.0.1:{O0};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location / { proxy_pass http://127.0.0.1:{O1}; }
        location /free/ { auth_request off; proxy_pass http://127.0.0.1:{O1}; }
    }
"#
    .to_string();
    let ok = || resp("200 OK", "X-User: alice\r\n", "auth body\n");
    let no_content = || resp("204 No Content", "X-User: bob\r\n", "");
    let unauthorized = || {
        resp(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"a\"\r\nWWW-Authenticate: Bearer\r\nX-User: nobody\r\n",
            "no\n",
        )
    };
    let forbidden = || resp("403 Forbidden", "X-User: eve\r\n", "forbidden\n");
    let post = "POST /app/p?q=1 HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    vec![Group {
        name: "auth_request",
        origins: 2,
        http,
        cases: vec![
            case("allow_200").error_log().answer(0, ok()).get("/app/x?a=1"),
            case("allow_204").answer(0, no_content()).get("/app/x"),
            case("allow_206_is_2xx").answer(0, resp("206 Partial Content", "", "p")).get("/app/x"),
            case("deny_401_copies_www_authenticate").error_log().answer(0, unauthorized()).get("/app/x"),
            case("deny_401_keeps_the_connection")
                .answer(0, unauthorized())
                .get("/app/a")
                .get("/app/b"),
            case("deny_403").answer(0, forbidden()).get("/app/x"),
            case("unexpected_500_is_500").error_log()
                .answer(0, resp("500 Internal Server Error", "", "boom\n"))
                .get("/app/x"),
            case("unexpected_404_is_500").error_log().answer(0, resp("404 Not Found", "", "nf\n")).get("/app/x"),
            case("unexpected_302_is_500").error_log()
                .answer(0, resp("302 Found", "Location: http://elsewhere/\r\n", ""))
                .get("/app/x"),
            case("unexpected_400_is_500").error_log().answer(0, resp("400 Bad Request", "", "")).get("/app/x"),
            case("auth_origin_down_is_500").error_log().get("/down/x"),
            case("auth_origin_hangs_up_is_500").error_log().answer(0, hang_up()).get("/app/x"),
            case("auth_return_204_allows").get("/ret204/x"),
            case("auth_return_401_not_copied_from_add_header").get("/ret401/x"),
            case("auth_location_404_is_500").error_log().get("/missing/x"),
            case("auth_location_not_internal").get("/open/x"),
            case("auth_location_error_page").error_log().get("/epauth/x"),
            case("auth_location_is_internal").get("/auth"),
            case("post_body_not_sent_to_auth").answer(0, ok()).req(post),
            case("post_body_not_sent_with_keepalive")
                .answer(0, ok())
                .req(post)
                .get("/app/after"),
            case("post_denied_discards_body")
                .answer(0, unauthorized())
                .req(post)
                .get("/app/after"),
            case("post_without_recipe").error_log()
                .answer(0, ok())
                .req("POST /plain/p HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"),
            case("post_pass_request_body_off_only")
                .answer(0, ok())
                .req("POST /nobody/p HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"),
            case("post_chunked")
                .answer(0, ok())
                .req("POST /app/c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            case("head_request").answer(0, ok()).req("HEAD /app/h HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("http10_request").answer(0, ok()).req("GET /app/old HTTP/1.0\r\n\r\n"),
            case("client_headers_reach_auth").answer(0, ok()).get_h(
                "/app/h",
                "Authorization: Basic YTpi\r\nCookie: s=1\r\nX-Forwarded-For: 10.1.1.1\r\n",
            ),
            case("expect_continue")
                .answer(0, ok())
                .req("POST /app/e HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                .raw(500),
            case("expect_continue_denied").answer(0, unauthorized()).req(
                "POST /app/e HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            ),
            case("body_too_large_before_auth")
                .answer(0, ok())
                .req("POST /small/p HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"),
            case("pipelined_after_auth")
                .answer(0, ok())
                .send(b"GET /app/1 HTTP/1.1\r\nHost: test\r\n\r\nGET /app/2 HTTP/1.1\r\nHost: test\r\n\r\n")
                .read()
                .read(),
            case("reached_by_encoded_path").answer(0, forbidden()).get("/ap%70/x"),
            case("reached_by_double_slash").answer(0, forbidden()).get("//app//x"),
            case("reached_by_dot_dot").answer(0, forbidden()).get("/other/../app/x"),
            case("reached_by_encoded_dot_dot").answer(0, forbidden()).get("/other/%2E%2E/app/x"),
            case("reached_by_rewrite").answer(0, forbidden()).get("/via-rewrite/x"),
            case("reached_by_error_page").answer(0, forbidden()).get("/via-error-page/x"),
            case("reached_by_named_error_page").answer(0, forbidden()).get("/via-named/x"),
            case("reached_by_try_files_named").answer(0, forbidden()).get("/via-try-files/x"),
            case("allowed_through_named_location").answer(0, ok()).get("/via-named/x"),
            case("subrequest_variables_get").answer(0, ok()).get("/vars/x?a=1"),
            case("subrequest_variables_post")
                .answer(0, ok())
                .req("POST /vars/p?q=1 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"),
            case("subrequest_variables_head")
                .answer(0, ok())
                .req("HEAD /vars/h HTTP/1.0\r\n\r\n"),
            case("set_passes_header_to_upstream").answer(0, ok()).get("/set/x"),
            case("set_from_204").answer(0, no_content()).get("/set/x"),
            case("set_on_denied").answer(0, forbidden()).get("/set/x"),
            case("nested_auth_request_off").get("/nested/open/x"),
            case("nested_inherits").answer(0, forbidden()).get("/nested/x"),
            case("error_page_401_redirect").answer(0, unauthorized()).get("/ep401/x"),
            case("error_page_403_redirect").answer(0, forbidden()).get("/ep403/x"),
            case("error_page_401_not_for_403").answer(0, forbidden()).get("/ep401/x"),
            case("deny_comes_first").error_log().get("/denied/x"),
            case("return_runs_before_auth").get("/retfirst/x"),
            case("static_location_allowed").error_log().answer(0, ok()).get("/static/x"),
            case("static_location_denied").answer(0, forbidden()).get("/static/x"),
            case("server_level_auth_applies").answer(0, ok()).get("/any").port(1),
            case("server_level_auth_denies").answer(0, forbidden()).get("/any").port(1),
            case("server_level_auth_location_reachable")
                .answer(0, ok())
                .get("/auth")
                .port(1),
            case("server_level_off").get("/free/x").port(1),
            case("keepalive_204_reuses_auth_connection")
                .answer(0, keep("204 No Content", "", ""))
                .get("/ka/a")
                .get("/ka/b"),
            case("keepalive_empty_200_reuses_auth_connection")
                .answer(0, keep("200 OK", "", ""))
                .get("/ka/a")
                .get("/ka/b"),
            case("keepalive_200_with_body_not_reused")
                .answer(0, keep("200 OK", "", "auth body\n"))
                .get("/ka/a")
                .get("/ka/b"),
            case("keepalive_401_empty_reused")
                .answer(0, keep("401 Unauthorized", "WWW-Authenticate: Basic\r\n", ""))
                .get("/ka/a")
                .get("/ka/b"),
            case("set_args_changes_upstream_query").answer(0, ok()).get("/args/x?old=1"),
            case("set_visible_to_add_header").answer(0, ok()).get("/hdr/x"),
            case("set_visible_to_add_header_on_403").answer(0, forbidden()).get("/hdr/x"),
            case("set_survives_error_page_to_named").answer(0, unauthorized()).get("/setep/x"),
            case("set_survives_error_page_403").answer(0, forbidden()).get("/setep/x"),
        ],
    }]
}
