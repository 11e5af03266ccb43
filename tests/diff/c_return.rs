//! `return` and nginx's own responses (SEMANTICS §8.9 status lines and pages, §10
//! `return`, §3.4 absolute redirects, connection closing after some errors).

use super::run::*;

pub fn groups() -> Vec<Group> {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name ret.test;
        location = /ok { return 200 "hello $uri $args\n"; }
        location = /json { default_type application/json; return 200 '{"a":1}'; }
        location = /empty200 { return 200; }
        location = /r201 { return 201; }
        location = /r204 { return 204; }
        location = /r400 { return 400; }
        location = /r403 { return 403; }
        location = /r404 { return 404; }
        location = /r405 { return 405; }
        location = /r417 { return 417; }
        location = /r418 { return 418; }
        location = /r418text { return 418 "short and stout\n"; }
        location = /r422 { return 422; }
        location = /r429 { return 429; }
        location = /r444 { return 444; }
        location = /r408 { return 408; }
        location = /r200ext.html { return 200 "typed by extension\n"; }
        location = /r499 { return 499; }
        location = /r500 { return 500; }
        location = /r501 { return 501; }
        location = /r502 { return 502; }
        location = /r503 { return 503; }
        location = /r504 { return 504; }
        location = /r506 { return 506; }
        location = /r507 { return 507; }
        location = /r599 { return 599; }
        location = /r301 { return 301 http://elsewhere.test/p; }
        location = /r302rel { return 302 /relative?x=1; }
        location = /r303 { return 303 /see; }
        location = /r307 { return 307 /temp; }
        location = /r308 { return 308 https://secure.test/; }
        location = /urlonly { return http://only-url.test/; }
        location = /r301var { return 301 $scheme://$host$request_uri; }
        location = /r302norel { return 302 relative-no-slash; }
        location = /r200url { return 200 http://not-a-redirect.test/; }
        location /noportredir/ { port_in_redirect off; return 302 /np; }
        location /noabs/ { absolute_redirect off; return 302 /na; }
        location /tokens/ { server_tokens off; return 404; }
        location / { return 200 "fallback\n"; }
    }
    server {
        listen 127.0.0.1:{L1};
        return 200 "server-level return $uri\n";
    }
"#
    .to_string();
    let codes = [
        ("return_201_without_text", "/r201"),
        ("return_204_without_text", "/r204"),
        ("return_400_page_and_close", "/r400"),
        ("return_403_error_page", "/r403"),
        ("return_404_error_page", "/r404"),
        ("return_405_error_page", "/r405"),
        ("return_417_has_no_page", "/r417"),
        ("return_unknown_code_has_empty_reason", "/r418"),
        ("return_422_has_no_page", "/r422"),
        ("return_429_error_page", "/r429"),
        ("return_499_has_no_page", "/r499"),
        ("return_500_page_and_close", "/r500"),
        ("return_501_page_and_close", "/r501"),
        ("return_502_page_keeps_alive", "/r502"),
        ("return_503_error_page", "/r503"),
        ("return_504_gateway_time_out_spelling", "/r504"),
        ("return_506_has_no_page", "/r506"),
        ("return_507_error_page", "/r507"),
        ("return_599_has_no_page", "/r599"),
    ];
    let mut cases = vec![
        case("return_200_text_with_variables").get("/ok?a=1"),
        case("return_text_uses_default_type").get("/json"),
        case("return_200_without_text").get("/empty200"),
        case("return_unknown_code_with_text").get("/r418text"),
        case("return_444_closes_without_response").get("/r444"),
        case("return_408_closes_without_response").get("/r408"),
        case("return_text_typed_by_uri_extension").get("/r200ext.html"),
        case("return_301_absolute_url").get("/r301"),
        case("return_302_relative_made_absolute").get("/r302rel"),
        case("return_303_see_other").get("/r303"),
        case("return_307_temporary").get("/r307"),
        case("return_308_permanent").get("/r308"),
        case("return_url_alone_is_302").get("/urlonly"),
        case("return_redirect_with_variables")
            .req("GET /r301var?q=1 HTTP/1.1\r\nHost: Var.Test:81\r\n\r\n"),
        case("return_redirect_without_slash_kept_relative").get("/r302norel"),
        case("return_200_with_url_is_body_text").get("/r200url"),
        case("return_redirect_http10_without_host_uses_server_name")
            .req("GET /r302rel HTTP/1.0\r\n\r\n"),
        case("return_port_in_redirect_off").get("/noportredir/"),
        case("return_absolute_redirect_off").get("/noabs/"),
        case("return_server_tokens_off_page").get("/tokens/"),
        case("return_head_has_no_body").req("HEAD /ok HTTP/1.1\r\nHost: t\r\n\r\n"),
        case("return_head_error_page_has_no_body").req("HEAD /r404 HTTP/1.1\r\nHost: t\r\n\r\n"),
        case("return_error_then_next_request_on_same_connection")
            .get("/r404")
            .get("/ok"),
        case("return_with_request_body_discarded")
            .req("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
            .get("/ok"),
        case("return_at_server_level").port(1).get("/any/thing"),
        case("return_http10_client_closes").req("GET /ok HTTP/1.0\r\nHost: t\r\n\r\n"),
    ];
    for (name, path) in codes {
        cases.push(case(name).get(path));
    }
    vec![Group {
        name: "return",
        origins: 0,
        http,
        cases,
    }]
}
