//! The rewrite module and friends (SEMANTICS §10 `rewrite`/`return`/`if`/`set`/`break`,
//! §4.2 rule 3 for what a changed URI does to `proxy_pass`, §3 for the location search
//! a rewrite restarts), `error_page` and `try_files`.
//!
//! The files the `if -f`/`try_files`/`error_page` cases look at are made by [`docroot`]
//! before nginx and sluice start, with one modification time so `ETag` and
//! `Last-Modified` agree.

use super::run::*;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Every file's modification time: Tue, 02 Jan 2024 03:04:05 GMT.
const MTIME: u64 = 1_704_164_645;

fn docroot(dir: &Path) -> std::io::Result<()> {
    let files: Vec<(&str, &[u8])> = vec![
        ("html/a.txt", b"file a\n"),
        ("html/iff/file.txt", b"plain file\n"),
        ("html/ifd/sub/keep.txt", b"in a directory\n"),
        ("html/ife/here.txt", b"exists\n"),
        ("html/ifx/run.sh", b"#!/bin/sh\n"),
        ("html/ifx/plain.txt", b"not executable\n"),
        ("html/ifbreak/f.txt", b"served after break\n"),
        ("html/err/404.html", b"<p>custom not found</p>\n"),
        ("html/err/403.html", b"<p>custom forbidden</p>\n"),
        ("html/err/50x.html", b"<p>custom server error</p>\n"),
        ("html/post/f.txt", b"posted to a file\n"),
        ("html/head/keep.txt", b"kept\n"),
        ("html/tf/a.txt", b"try_files found a\n"),
        ("html/tf/dir/index.html", b"<p>tf dir index</p>\n"),
        ("html/tfnamed/here.txt", b"named not needed\n"),
        ("html/show/real.txt", b"real file under show\n"),
        ("other/f.txt", b"other root\n"),
        ("other/ifroot/f.txt", b"root switched by if\n"),
    ];
    let when = UNIX_EPOCH + Duration::from_secs(MTIME);
    for (name, body) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, body)?;
        std::fs::File::options()
            .write(true)
            .open(&p)?
            .set_modified(when)?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("html/ifx/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    std::fs::set_permissions(
        dir.join("html/ifx/plain.txt"),
        std::fs::Permissions::from_mode(0o644),
    )?;
    Ok(())
}

pub fn groups() -> Vec<Group> {
    prepare("rewrite", docroot);
    prepare("rewrite_if", docroot);
    prepare("error_page", docroot);
    prepare("try_files", docroot);
    vec![rewrite(), rewrite_if(), error_page(), try_files()]
}

fn rewrite() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name rw.test;
        root {DIR}/html;
        rewrite ^/srv/(.*)$ /show/$1;
        rewrite ^/srvperm/(.*)$ /show/$1 permanent;
        location /show/ { return 200 "show uri=$uri args=$args is=$is_args 1=$1\n"; }
        location /last/ { rewrite ^/last/(.*)$ /show/$1 last; return 200 "not reached\n"; }
        location /brk/ { rewrite ^/brk/(.*)$ /show/$1 break; return 200 "not reached\n"; }
        location /brkfile/ { rewrite ^/brkfile/(.*)$ /$1 break; }
        location /noflag/ { rewrite ^/noflag/(.*)$ /show/$1; return 200 "noflag uri=$uri\n"; }
        location /chain/ { rewrite ^/chain/a$ /chain/b; rewrite ^/chain/b$ /show/c; }
        location /loop/ { rewrite ^/loop/(.*)$ /loop/$1 last; }
        location /loop2/ { rewrite ^ /loop2/x; }
        location /redir/ { rewrite ^/redir/(.*)$ /show/$1 redirect; }
        location /perm/ { rewrite ^/perm/(.*)$ /show/$1 permanent; }
        location /abs/ { rewrite ^/abs/(.*)$ http://other.test/$1; }
        location /absperm/ { rewrite ^/absperm/(.*)$ https://other.test/$1 permanent; }
        location /scheme/ { rewrite ^/scheme/(.*)$ $scheme://$host/x/$1 redirect; }
        location /noargs/ { rewrite ^/noargs/(.*)$ /show/$1? last; }
        location /newargs/ { rewrite ^/newargs/(.*)$ /show/p?n=$1 last; }
        location /newargsq/ { rewrite ^/newargsq/(.*)$ /show/p?n=$1? last; }
        location /redirnoargs/ { rewrite ^/redirnoargs/(.*)$ /show/$1? redirect; }
        location /redirargs/ { rewrite ^/redirargs/(.*)$ /show/$1?n=1 redirect; }
        location /nomatch/ { rewrite ^/zzz /show/never last; return 200 "no match uri=$uri\n"; }
        location /caps/ { rewrite "^/caps/(?<first>[a-z]+)/(\d+)$" /show/$first-$2 last; }
        location /escaped/ { rewrite ^/escaped/(.*)$ /show/$1 last; }
        location /escredir/ { rewrite ^/escredir/(.*)$ /show/$1 redirect; }
        location /escargs/ { rewrite ^/escargs/(.*)$ /show/x?v=$1 last; }
        location /empty/ { rewrite ^/empty/ $arg_none last; }
        location = /setv { set $a hello; set $b "$a-$uri"; return 200 "a=$a b=$b\n"; }
        location = /setunset { return 200 "u=[$unsetvar]\n"; }
        location = /setother { set $unsetvar x; return 200 "set here\n"; }
        location = /setargs { set $args "k=v"; return 200 "args=$args is=$is_args arg_k=$arg_k\n"; }
        location ~ ^/setcap/(.*)$ { set $c $1; return 200 "c=$c raw=$1\n"; }
        location /brkset/ { set $x one; break; set $x two; add_header X-X $x always; }
        location /retorder/ { return 200 "first\n"; rewrite ^ /show/x last; }
        location /toproxy/ { rewrite ^/toproxy/(.*)$ /up/$1 last; }
        location /up/ { proxy_pass http://127.0.0.1:{O0}/base/; }
        location /toproxynouri/ { rewrite ^/toproxynouri/(.*)$ /upnouri/$1 last; }
        location /upnouri/ { proxy_pass http://127.0.0.1:{O0}; }
        location /setargsproxy/ { set $args "z=1"; proxy_pass http://127.0.0.1:{O0}; }
        location /int/ { internal; return 200 "internal reached $uri\n"; }
        location /toint/ { rewrite ^/toint/(.*)$ /int/$1 last; }
        location /todyn/ { rewrite ^/todyn/(.*)$ /dyn/$1 last; }
        location /dyn/ { set $t 127.0.0.1:{O0}; proxy_pass http://$t; }
        location ~ ^/re(\d)/ { rewrite ^/re(\d)/(.*)$ /show/$2-$1 last; }
    }
    server {
        listen 127.0.0.1:{L1};
        server_name srv.test;
        set $srv "server-set";
        if ($arg_deny) { return 403; }
        rewrite ^/old/(.*)$ /new/$1;
        rewrite ^/gone$ /new/gone break;
        location /new/ { return 200 "new uri=$uri srv=$srv\n"; }
        location / { return 200 "default uri=$uri srv=$srv\n"; }
    }
"#
    .to_string();
    Group {
        name: "rewrite",
        origins: 1,
        http,
        cases: vec![
            case("rw_server_level_rewrite_then_location_search").get("/srv/a?q=1"),
            case("rw_server_level_permanent").get("/srvperm/a?q=1"),
            case("rw_last_searches_locations_again").get("/last/x?y=2"),
            case("rw_break_stops_return_and_serves_static").get("/brk/x"),
            case("rw_break_serves_changed_uri_in_location").get("/brkfile/a.txt"),
            case("rw_no_flag_continues_to_return").get("/noflag/z"),
            case("rw_no_flag_chain_then_search").get("/chain/a"),
            case("rw_last_loop_is_500").get("/loop/x"),
            case("rw_no_flag_loop_is_500").get("/loop2/y"),
            case("rw_redirect_302_relative_made_absolute").get("/redir/p?a=b"),
            case("rw_permanent_301").get("/perm/p"),
            case("rw_permanent_keeps_args").get("/perm/p?a=b&c=d"),
            case("rw_http_replacement_redirects").get("/abs/q?x=1"),
            case("rw_https_replacement_permanent").get("/absperm/q"),
            case("rw_scheme_replacement_redirects").get("/scheme/s?t=u"),
            case("rw_question_mark_drops_args").get("/noargs/a?drop=1"),
            case("rw_new_args_then_old_args").get("/newargs/v?old=1"),
            case("rw_new_args_without_old").get("/newargsq/v?old=1"),
            case("rw_redirect_question_mark_drops_args").get("/redirnoargs/a?drop=1"),
            case("rw_redirect_new_args_then_old").get("/redirargs/a?old=1"),
            case("rw_not_matching_leaves_uri").get("/nomatch/q?a=1"),
            case("rw_named_and_numbered_captures").get("/caps/abc/42"),
            case("rw_decoded_capture_into_uri").get("/escaped/a%20b"),
            case("rw_escaped_capture_into_redirect").get("/escredir/a%20b%3Fc"),
            case("rw_escaped_capture_into_args").get("/escargs/a%20b%26c"),
            case("rw_plus_in_path_escapes_capture_in_args").get("/escargs/a+b"),
            case("rw_empty_result_is_500").get("/empty/x"),
            case("set_variables_in_return").get("/setv"),
            case("set_unset_variable_is_empty").get("/setunset"),
            case("set_args_changes_args").get("/setargs?old=1"),
            case("set_capture_escaped_for_quoted_uri").get("/setcap/a%20b"),
            case("set_capture_plain").get("/setcap/plain"),
            case("break_stops_set_and_keeps_location").get("/brkset/x"),
            case("return_before_rewrite_wins").get("/retorder/a"),
            case("rw_last_into_proxy_with_uri_part").get("/toproxy/a%20b?q=1"),
            case("rw_last_into_proxy_without_uri_part").get("/toproxynouri/x//y?q=1"),
            case("set_args_then_proxy_without_uri_part").get("/setargsproxy/p?a=b"),
            case("rw_reaches_internal_location").get("/toint/x"),
            case("rw_last_into_variable_proxy_without_uri_part").get("/todyn/a%20b?q=1"),
            case("internal_location_refused_from_outside").get("/int/x"),
            case("rw_in_regex_location_with_its_captures").get("/re7/tail"),
            case("rw_head_request_redirect").req("HEAD /redir/h HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("rw_keepalive_after_redirect_then_second")
                .get("/redir/one")
                .get("/last/two"),
            case("srv_set_visible_in_location").port(1).get("/x"),
            case("srv_if_return_403").port(1).get("/x?deny=1"),
            case("srv_rewrite_no_flag_then_location")
                .port(1)
                .get("/old/o?k=v"),
            case("srv_rewrite_break_then_location").port(1).get("/gone"),
        ],
    }
}

fn rewrite_if() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name if.test;
        root {DIR}/html;
        location /show/ { return 200 "show uri=$uri args=$args\n"; }
        location /ifvar/ { if ($arg_x) { return 200 "x set: $arg_x\n"; } return 200 "x unset\n"; }
        location /ifeq/ {
            if ($arg_x = abc) { return 200 "eq\n"; }
            if ($arg_x != abc) { return 200 "ne [$arg_x]\n"; }
        }
        location /ifre/ { if ($uri ~ ^/ifre/(\w+)-(\d+)$) { return 200 "re $1 $2\n"; } return 200 "re none\n"; }
        location /ifrei/ { if ($http_x_test ~* ^yes(.*)$) { return 200 "rei [$1]\n"; } return 200 "rei no\n"; }
        location /ifnre/ { if ($arg_v !~ ^\d+$) { return 400; } return 200 "num $arg_v\n"; }
        location /ifnrei/ { if ($arg_v !~* ^abc) { return 200 "not abc\n"; } return 200 "abc\n"; }
        location /ifnamed/ { if ($uri ~ ^/ifnamed/(?<word>[a-z]+)) { return 200 "word=$word\n"; } return 200 "none\n"; }
        location /iff/ {
            if (-f {DIR}/html$uri) { return 200 "file\n"; }
            if (!-f {DIR}/html$uri) { return 200 "not file\n"; }
        }
        location /ifd/ {
            if (-d {DIR}/html$uri) { return 200 "dir\n"; }
            if (!-d {DIR}/html$uri) { return 200 "not dir\n"; }
        }
        location /ife/ {
            if (-e {DIR}/html$uri) { return 200 "exists\n"; }
            if (!-e {DIR}/html$uri) { return 200 "missing\n"; }
        }
        location /ifx/ {
            if (-x {DIR}/html$uri) { return 200 "exec\n"; }
            if (!-x {DIR}/html$uri) { return 200 "not exec\n"; }
        }
        location /ifconf/ { if ($arg_h) { add_header X-If yes; } return 200 "body\n"; }
        location /ifroot/ { if ($arg_other) { root {DIR}/other; } }
        location /ifproxy/ { if ($arg_p) { proxy_pass http://127.0.0.1:{O0}; } }
        location /ifinherit/ {
            proxy_pass http://127.0.0.1:{O0}/base/;
            if ($arg_h) { add_header X-From-If yes; }
        }
        location /ifrewrite/ { if ($arg_go) { rewrite ^ /show/went last; } return 200 "stayed\n"; }
        location /ifset/ { set $v a; if ($arg_b) { set $v b; } return 200 "v=$v\n"; }
        location /ifbreak/ { if ($arg_b) { break; } return 200 "no break\n"; }
        location /ifboth/ { if ($arg_a) { set $r A; } if ($arg_b) { set $r "${r}B"; } return 200 "r=$r\n"; }
        location /ifzero/ { set $z 0; if ($z) { return 200 "zero is true\n"; } return 200 "zero is false\n"; }
        location /ifafter/ { if ($arg_a) { add_header X-A a; } if ($arg_b) { add_header X-B b; } return 200 "last if wins\n"; }
    }
"#
    .to_string();
    Group {
        name: "rewrite_if",
        origins: 1,
        http,
        cases: vec![
            case("if_var_non_empty").get("/ifvar/?x=1"),
            case("if_var_zero_is_false").get("/ifvar/?x=0"),
            case("if_var_empty_is_false").get("/ifvar/?x="),
            case("if_var_absent_is_false").get("/ifvar/"),
            case("if_equal").get("/ifeq/?x=abc"),
            case("if_equal_is_case_sensitive").get("/ifeq/?x=ABC"),
            case("if_regex_captures").get("/ifre/abc-12"),
            case("if_regex_no_match").get("/ifre/abc"),
            case("if_regex_caseless").get_h("/ifrei/", "X-Test: YES-sir\r\n"),
            case("if_regex_caseless_no_match").get_h("/ifrei/", "X-Test: no\r\n"),
            case("if_not_regex_true").get("/ifnre/?v=x1"),
            case("if_not_regex_false").get("/ifnre/?v=12"),
            case("if_not_regex_caseless").get("/ifnrei/?v=ABCdef"),
            case("if_not_regex_caseless_true").get("/ifnrei/?v=xyz"),
            case("if_named_capture").get("/ifnamed/hello/1"),
            case("if_file_plain").get("/iff/file.txt"),
            case("if_file_missing").get("/iff/nope.txt"),
            case("if_file_directory_is_not_plain").get("/iff/"),
            case("if_dir_true").get("/ifd/sub"),
            case("if_dir_false_for_file").get("/ifd/sub/keep.txt"),
            case("if_exists_file").get("/ife/here.txt"),
            case("if_exists_missing").get("/ife/gone.txt"),
            case("if_exec_true").get("/ifx/run.sh"),
            case("if_exec_false").get("/ifx/plain.txt"),
            case("if_block_add_header_applies").get("/ifconf/?h=1"),
            case("if_block_false_no_header").get("/ifconf/"),
            case("if_block_root").get("/ifroot/f.txt?other=1"),
            case("if_block_root_false").get("/ifroot/f.txt"),
            case("if_block_proxy_pass").get("/ifproxy/a//b?p=1"),
            case("if_block_proxy_pass_false_static").get("/ifproxy/a"),
            case("if_block_inherits_proxy_with_uri_part").get("/ifinherit/x?h=1"),
            case("if_block_inherited_proxy_false").get("/ifinherit/x"),
            case("if_rewrite_last").get("/ifrewrite/?go=1"),
            case("if_rewrite_not_taken").get("/ifrewrite/"),
            case("if_set_then_continue").get("/ifset/?b=1"),
            case("if_set_false").get("/ifset/"),
            case("if_break_goes_to_static").get("/ifbreak/f.txt?b=1"),
            case("if_no_break_returns").get("/ifbreak/f.txt"),
            case("if_two_blocks_both_run").get("/ifboth/?a=1&b=1"),
            case("if_set_zero_false").get("/ifzero/"),
            case("if_last_true_block_configuration_wins").get("/ifafter/?a=1&b=1"),
        ],
    }
}

fn error_page() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name ep.test;
        root {DIR}/html;
        error_page 404 /err/404.html;
        location /err/ { internal; }
        location /show/ { return 200 "show uri=$uri args=$args method=$request_method\n"; }
        location /missing/ { }
        location /ret403/ { error_page 403 /err/403.html; return 403; }
        location /eqcode/ { error_page 404 =200 /err/404.html; }
        location /eqbare/ { error_page 404 = /show/bare; }
        location /eqret/ { error_page 404 = /retpage; }
        location = /retpage { return 201 "created page\n"; }
        location /tonamed/ { error_page 404 = @fallback; }
        location /tonamed404/ { error_page 404 @fallback; }
        location @fallback { return 200 "fallback uri=$uri args=$args\n"; }
        location /toproxy/ { error_page 404 = @up; }
        location @up { proxy_pass http://127.0.0.1:{O0}; }
        location /tourl/ { error_page 404 http://example.test/nf; }
        location /tourl301/ { error_page 404 =301 http://example.test/moved; }
        location /withargs/ { error_page 404 /show/x?from=err; }
        location /post/ { error_page 405 /show/m; }
        location /loop/ { error_page 404 /loop/missing; }
        location /recursive/ { recursive_error_pages on; error_page 404 /recursive/missing; }
        location /override/ { error_page 500 /err/50x.html; }
        location /r502/ { error_page 500 502 503 504 /err/50x.html; return 502; }
        location /dead/ { error_page 502 /err/50x.html; proxy_pass http://127.0.0.1:{DEAD}; }
        location /var/ { error_page 404 /show/$arg_p; }
        location /denied/ { deny all; error_page 403 = /show/denied; }
        location /retext/ { error_page 404 /err/404.html; return 404 "text, no page\n"; }
        location /toproxystatus/ { error_page 404 /up/; }
        location /up/ { proxy_pass http://127.0.0.1:{O0}; }
    }
"#
    .to_string();
    Group {
        name: "error_page",
        origins: 1,
        http,
        cases: vec![
            case("ep_static_404_to_uri").get("/missing/x"),
            case("ep_inherited_from_server").get("/nothing-here"),
            case("ep_return_403_to_uri").get("/ret403/"),
            case("ep_equal_code_overrides_status").get("/eqcode/x"),
            case("ep_bare_equal_takes_target_status").get("/eqbare/x?q=1"),
            case("ep_bare_equal_with_return_code").get("/eqret/x"),
            case("ep_named_location_bare_equal").get("/tonamed/x?a=1"),
            case("ep_named_location_keeps_error_status").get("/tonamed404/x"),
            case("ep_named_location_proxy").get("/toproxy/a//b?c=1"),
            case("ep_url_is_302").get("/tourl/x"),
            case("ep_url_with_301").get("/tourl301/x"),
            case("ep_uri_with_args").get("/withargs/x?orig=1"),
            case("ep_post_becomes_get")
                .req("POST /post/f.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc"),
            case("ep_missing_page_not_redirected_twice").get("/loop/x"),
            case("ep_recursive_pages_end_in_500").get("/recursive/x"),
            case("ep_level_list_replaces_inherited").get("/override/x"),
            case("ep_return_502_to_page").get("/r502/"),
            case("ep_upstream_502_to_page").get("/dead/x"),
            case("ep_uri_with_variable").get("/var/x?p=dyn"),
            case("ep_access_denied_to_uri").get("/denied/x"),
            case("ep_return_with_text_is_not_special").get("/retext/"),
            case("ep_head_request").req("HEAD /missing/h HTTP/1.1\r\nHost: test\r\n\r\n"),
            case("ep_keepalive_after_error_page")
                .get("/missing/a")
                .get("/show/after"),
            case("ep_internal_page_refused_directly").get("/err/404.html"),
            case("ep_proxied_page_gets_error_status").get("/toproxystatus/x"),
        ],
    }
}

fn try_files() -> Group {
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        server_name tf.test;
        root {DIR}/html;
        location /show/ { return 200 "show uri=$uri args=$args\n"; }
        location /tf/ { try_files $uri $uri/ =404; }
        location /tfnamed/ { try_files $uri @back; }
        location @back { return 200 "back uri=$uri args=$args\n"; }
        location /tfuri/ { try_files $uri /show/fallback; }
        location /tfuriargs/ { try_files $uri /show/fallback?$args&extra=1; }
        location /tfcode/ { try_files $uri =403; }
        location /tfproxy/ { try_files $uri @up; }
        location @up { proxy_pass http://127.0.0.1:{O0}; }
        location /tfalias/ { alias {DIR}/other/; try_files $uri =404; }
        location /tfloop/ { try_files $uri /tfloop/x; }
        location /tffirst/ { try_files /a.txt /show/no; }
        location /tfep/ { error_page 404 = /show/from-error-page; try_files $uri =404; }
    }
    server {
        listen 127.0.0.1:{L1};
        server_name tfsrv.test;
        root {DIR}/html;
        try_files $uri /a.txt;
    }
"#
    .to_string();
    Group {
        name: "try_files",
        origins: 1,
        http,
        cases: vec![
            case("tf_file_found").get("/tf/a.txt"),
            case("tf_missing_code_404").get("/tf/nope"),
            case("tf_dir_without_slash_redirects").get("/tf/dir"),
            case("tf_dir_with_slash_index").get("/tf/dir/"),
            case("tf_named_fallback").get("/tfnamed/missing?k=v"),
            case("tf_named_not_needed").get("/tfnamed/here.txt"),
            case("tf_uri_fallback_drops_args").get("/tfuri/missing?k=v"),
            case("tf_uri_fallback_with_args").get("/tfuriargs/missing?k=v"),
            case("tf_code_403").get("/tfcode/missing"),
            case("tf_named_proxy").get("/tfproxy/m%20x?a=1"),
            case("tf_alias").get("/tfalias/f.txt"),
            case("tf_alias_missing").get("/tfalias/none.txt"),
            case("tf_fallback_loop_is_500").get("/tfloop/y"),
            case("tf_first_absolute_name").get("/tffirst/whatever"),
            case("tf_code_with_error_page").get("/tfep/none"),
            case("tf_server_level_found").port(1).get("/show/real.txt"),
            case("tf_server_level_fallback").port(1).get("/no/such"),
        ],
    }
}
