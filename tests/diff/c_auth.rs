//! `auth_basic` (`ngx_http_auth_basic_module`) and `satisfy`: the 401 and its
//! `WWW-Authenticate` challenge, realms and password files with variables, `off`, the
//! password-file errors (missing → 403, unreadable → 500), every htpasswd hash scheme
//! nginx 1.22.1 accepts on Debian (its own `{PLAIN}`, `{SHA}`, `{SSHA}`, `$apr1$`, and
//! libxcrypt's DES, `_`, `$1$`, `$2a$`/`$2b$`/`$2y$`, `$sha1$`, `$5$`, `$6$`, `$y$`,
//! `$7$`, `$gy$`),
//! `$remote_user`, and how `satisfy all|any` combines `allow`/`deny` with it. Cases
//! marked `errlog` compare the error-log lines too.

use super::run::*;
use std::path::Path;

/// `Authorization: Basic ...` for `user:password`.
pub fn basic(user_pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = user_pass.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}\r\n")
}

/// The password of every entry below is "secret". Each line was made with
/// `openssl passwd` or Python's `crypt` (libxcrypt), for nginx 1.22.1 to accept.
pub const HTPASSWD: &str = "\
# a comment line:{PLAIN}secret
plain:{PLAIN}secret
sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=
ssha:{SSHA}+RFhsab2AfzZ0VfEdyknXtUT06RhYmNk
apr1:$apr1$xyzSALT1$.eWsQnZemtc7siKtawOwr/
md5:$1$saltsalt$9xy1btjgzLYfb7hivXtC//
sha256:$5$saltsaltsalt$TihBZCRsJxAxHgKub.mCOdu9X7QLi980jJxe7T2aZg7
sha512:$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts.
des:abNANd1rDfiNc
bcrypt:$2b$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe
bcrypty:$2y$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe
bcrypta:$2a$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe
yescrypt:$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.
sha1crypt:$sha1$1000$abcdefgh$ji8ESnkwjcTjo4hThodnLYyi.3yG
bsdi:_J9..abcd/H6HLCcf7nw
scrypt:$7$CU..../....abcdefgh$XWs9HxtpA2.6U5CDBBbcW.h3o9pYlC.MIIb8JqMgZx6
gost:$gy$j9T$abcdefghijklmnop$mixfBgwqRYkgJa0E4eWmDF3HC/BbYXm8ztA717oxvqD
yescrypt22:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0
gost22:$gy$j9T$F5Jx5fExrKuPp53xLKQ..1$uE5FcoxTz78xZpMZkpTmj/0MogyeNUSLIjdCxpQjz.8
invalid:$zz$nothing
empty:
comment:{PLAIN}secret:the rest of the line is ignored
crlf:{PLAIN}secret\r
";

/// Writes the password file and the static files the auth configs serve.
pub fn prepare_auth(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("htpasswd"), HTPASSWD)?;
    std::fs::write(dir.join("other.htpasswd"), "other:{PLAIN}pw\n")?;
    for d in [
        "basic",
        "realmvar",
        "fileabs",
        "filevar",
        "filerel",
        "off",
        "offvar",
        "nofile",
        "dirfile",
        "inherit/open",
        "inherit/inner",
        "all",
        "any",
        "anyallow",
        "anynofile",
        "anynorule",
        "anydir",
        "errpage",
        "srv",
    ] {
        let p = dir.join("www").join(d);
        std::fs::create_dir_all(&p)?;
        std::fs::write(p.join("f"), format!("file in {d}\n"))?;
    }
    std::fs::write(dir.join("www/denied.html"), "denied page\n")?;
    Ok(())
}

pub fn groups() -> Vec<Group> {
    prepare("auth", prepare_auth);
    let http = r#"
    server {
        listen 127.0.0.1:{L0};
        root {DIR}/www;
        location /basic/ { auth_basic "Restricted"; auth_basic_user_file htpasswd; }
        location /realmvar/ { auth_basic "Zone $host $uri"; auth_basic_user_file htpasswd; }
        location /fileabs/ { auth_basic "x"; auth_basic_user_file {DIR}/htpasswd; }
        location /filevar/ { auth_basic "x"; auth_basic_user_file {DIR}/$arg_f; }
        location /filerel/ { set $pwfile other.htpasswd; auth_basic "x"; auth_basic_user_file $pwfile; }
        location /off/ { auth_basic off; auth_basic_user_file htpasswd; }
        location /offvar/ { auth_basic $arg_realm; auth_basic_user_file htpasswd; }
        location /nofile/ { auth_basic "x"; auth_basic_user_file missing.htpasswd; }
        location /dirfile/ { auth_basic "x"; auth_basic_user_file {DIR}/www; }
        location /proxied/ { auth_basic "p"; auth_basic_user_file htpasswd; proxy_pass http://127.0.0.1:{O0}; }
        location /user/ { return 200 "user=[$remote_user]\n"; }
        location /inherit/ {
            auth_basic "outer"; auth_basic_user_file htpasswd;
            location /inherit/open/ { auth_basic off; }
            location /inherit/inner/ { }
        }
        location /retfirst/ { auth_basic "x"; auth_basic_user_file htpasswd; return 200 "return runs first\n"; }
        location /errpage/ { auth_basic "x"; auth_basic_user_file htpasswd; error_page 401 /denied.html; }
        location /errnamed/ { auth_basic "x"; auth_basic_user_file htpasswd; error_page 401 = @login; }
        location @login { return 200 "please log in\n"; }
        location /all/ { deny all; auth_basic "x"; auth_basic_user_file htpasswd; }
        location /any/ { satisfy any; deny all; auth_basic "x"; auth_basic_user_file htpasswd; }
        location /anyallow/ { satisfy any; allow 127.0.0.1; deny all; auth_basic "x"; auth_basic_user_file htpasswd; }
        location /anynofile/ { satisfy any; deny all; auth_basic "x"; auth_basic_user_file missing.htpasswd; }
        location /anynorule/ { satisfy any; allow 10.0.0.0/8; auth_basic "x"; auth_basic_user_file htpasswd; }
        location /anydir/ { satisfy any; deny all; auth_basic "x"; auth_basic_user_file {DIR}/www; }
    }
    server {
        listen 127.0.0.1:{L1};
        root {DIR}/www;
        satisfy any;
        allow 127.0.0.2;
        deny all;
        auth_basic "server level";
        auth_basic_user_file htpasswd;
        location /srv/ { }
        location /srv/all/ { satisfy all; }
    }
"#
    .to_string();
    let ok = basic("plain:secret");
    let bad = basic("plain:wrong");
    let mut cases = vec![
        case("auth_basic_without_credentials_is_401_with_challenge")
            .get("/basic/f")
            .errlog(),
        case("auth_basic_right_password_passes").get_h("/basic/f", &ok),
        case("auth_basic_wrong_password_is_401")
            .get_h("/basic/f", &bad)
            .errlog(),
        case("auth_basic_unknown_user_is_401")
            .get_h("/basic/f", &basic("nobody:secret"))
            .errlog(),
        case("auth_basic_commented_user_is_not_found")
            .get_h("/basic/f", &basic("# a comment line:secret"))
            .errlog(),
        case("auth_basic_entry_ends_at_colon").get_h("/basic/f", &basic("comment:secret")),
        case("auth_basic_entry_ends_at_cr").get_h("/basic/f", &basic("crlf:secret")),
        case("auth_basic_empty_entry_never_matches")
            .get_h("/basic/f", &basic("empty:"))
            .errlog(),
        case("auth_basic_invalid_hash_never_matches")
            .get_h("/basic/f", &basic("invalid:secret"))
            .errlog(),
        case("auth_basic_scheme_is_caseless")
            .get_h("/basic/f", "Authorization: bAsIc   cGxhaW46c2VjcmV0\r\n"),
        case("auth_basic_other_scheme_is_no_credentials")
            .get_h("/basic/f", "Authorization: Bearer cGxhaW46c2VjcmV0\r\n")
            .errlog(),
        case("auth_basic_base64_stops_at_padding").get_h(
            "/basic/f",
            "Authorization: Basic cGxhaW46c2VjcmV0===junk\r\n",
        ),
        case("auth_basic_bad_base64_is_no_credentials")
            .get_h("/basic/f", "Authorization: Basic cGxh*W46\r\n")
            .errlog(),
        case("auth_basic_empty_user_is_no_credentials")
            .get_h("/basic/f", &basic(":secret"))
            .errlog(),
        case("auth_basic_no_colon_is_no_credentials")
            .get_h("/basic/f", &basic("plainsecret"))
            .errlog(),
        case("auth_basic_duplicate_authorization_is_400")
            .get_h("/basic/f", &format!("{ok}Authorization: Basic eDp5\r\n")),
        case("auth_basic_401_keeps_the_connection")
            .get("/basic/f")
            .get_h("/basic/f", &ok),
        case("auth_basic_401_discards_the_body")
            .req("POST /basic/f HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nbody")
            .get_h("/basic/f", &ok),
        case("auth_basic_head_401").req("HEAD /basic/f HTTP/1.1\r\nHost: test\r\n\r\n"),
        case("auth_basic_realm_with_variables").get("/realmvar/f?a=1"),
        case("auth_basic_absolute_user_file").get_h("/fileabs/f", &ok),
        case("auth_basic_user_file_with_variables")
            .get_h("/filevar/f?f=htpasswd", &ok)
            .get_h("/filevar/f?f=other.htpasswd", &ok)
            .get_h("/filevar/f?f=other.htpasswd", &basic("other:pw"))
            .errlog(),
        case("auth_basic_relative_user_file_with_variables")
            .get_h("/filerel/f", &basic("other:pw")),
        case("auth_basic_off").get("/off/f"),
        case("auth_basic_realm_off_from_variable")
            .get("/offvar/f?realm=off")
            .get("/offvar/f?realm=on"),
        case("auth_basic_missing_user_file_is_403")
            .get_h("/nofile/f", &ok)
            .errlog(),
        case("auth_basic_missing_user_file_without_credentials_is_401").get("/nofile/f"),
        case("auth_basic_unreadable_user_file_is_500")
            .get_h("/dirfile/f", &ok)
            .errlog(),
        case("auth_basic_proxied_request_keeps_authorization").get_h("/proxied/x", &ok),
        case("auth_basic_proxied_401_never_reaches_origin").get("/proxied/x"),
        case("remote_user_without_auth_basic")
            .get_h("/user/", &basic("us er:pa:ss"))
            .get("/user/")
            .get_h("/user/", &basic(":nouser")),
        case("auth_basic_inherited_by_nested_location").get("/inherit/inner/f"),
        case("auth_basic_off_in_nested_location").get("/inherit/open/f"),
        case("auth_basic_return_runs_first").get("/retfirst/"),
        case("auth_basic_401_through_error_page").get("/errpage/f"),
        case("auth_basic_401_through_error_page_named").get("/errnamed/f"),
        case("auth_basic_401_with_expect_continue").req(
            "POST /basic/f HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        ),
        // satisfy
        case("satisfy_all_deny_comes_before_auth")
            .get_h("/all/f", &ok)
            .errlog(),
        case("satisfy_any_deny_then_no_credentials_is_401")
            .get("/any/f")
            .errlog(),
        case("satisfy_any_deny_then_right_password_passes").get_h("/any/f", &ok),
        case("satisfy_any_deny_then_wrong_password_is_401")
            .get_h("/any/f", &bad)
            .errlog(),
        case("satisfy_any_allow_skips_auth")
            .get("/anyallow/f")
            .errlog(),
        case("satisfy_any_missing_file_is_403_forbidden_by_rule")
            .get_h("/anynofile/f", &ok)
            .errlog(),
        case("satisfy_any_missing_file_without_credentials_is_401").get("/anynofile/f"),
        case("satisfy_any_no_matching_rule_leaves_it_to_auth")
            .get("/anynorule/f")
            .get_h("/anynorule/f", &ok),
        case("satisfy_any_unreadable_file_is_500_at_once")
            .get_h("/anydir/f", &ok)
            .errlog(),
        case("satisfy_any_server_level_untrusted_client_needs_password")
            .port(1)
            .get("/srv/f")
            .get_h("/srv/f", &ok),
        case("satisfy_any_server_level_allowed_client")
            .port(1)
            .source_ip([127, 0, 0, 2])
            .get("/srv/f"),
        case("satisfy_all_in_location_overrides_server")
            .port(1)
            .source_ip([127, 0, 0, 2])
            .get("/srv/all/f")
            .get_h("/srv/all/f", &ok),
    ];
    // Every hash scheme: the right password passes, a wrong one is a mismatch.
    for (user, ok_name, bad_name) in [
        ("plain", "hash_plain_right", "hash_plain_wrong"),
        ("sha", "hash_sha_right", "hash_sha_wrong"),
        ("ssha", "hash_ssha_right", "hash_ssha_wrong"),
        ("apr1", "hash_apr1_right", "hash_apr1_wrong"),
        ("md5", "hash_md5_crypt_right", "hash_md5_crypt_wrong"),
        (
            "sha256",
            "hash_sha256_crypt_right",
            "hash_sha256_crypt_wrong",
        ),
        (
            "sha512",
            "hash_sha512_crypt_right",
            "hash_sha512_crypt_wrong",
        ),
        ("des", "hash_des_right", "hash_des_wrong"),
        ("bcrypt", "hash_bcrypt_2b_right", "hash_bcrypt_2b_wrong"),
        ("bcrypty", "hash_bcrypt_2y_right", "hash_bcrypt_2y_wrong"),
        ("bcrypta", "hash_bcrypt_2a_right", "hash_bcrypt_2a_wrong"),
        ("yescrypt", "hash_yescrypt_right", "hash_yescrypt_wrong"),
        (
            "yescrypt22",
            "hash_yescrypt_long_salt_right",
            "hash_yescrypt_long_salt_wrong",
        ),
        (
            "sha1crypt",
            "hash_sha1_crypt_right",
            "hash_sha1_crypt_wrong",
        ),
        ("bsdi", "hash_bsdi_right", "hash_bsdi_wrong"),
        ("scrypt", "hash_scrypt_right", "hash_scrypt_wrong"),
        (
            "gost",
            "hash_gost_yescrypt_right",
            "hash_gost_yescrypt_wrong",
        ),
        (
            "gost22",
            "hash_gost_yescrypt_long_salt_right",
            "hash_gost_yescrypt_long_salt_wrong",
        ),
    ] {
        cases.push(case(ok_name).get_h("/basic/f", &basic(&format!("{user}:secret"))));
        cases.push(
            case(bad_name)
                .get_h("/basic/f", &basic(&format!("{user}:Secret")))
                .errlog(),
        );
    }
    vec![Group {
        name: "auth",
        origins: 1,
        http,
        cases,
    }]
}
