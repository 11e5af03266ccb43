//! Static files (SEMANTICS §10, §3 for the locations): `root` (prefix-relative by
//! default: `html`), `alias` (the prefix replaced, regex captures, the missing-slash and
//! `..` traps), `index` (several names, absolute, variables, the internal redirect that
//! searches the locations again), directories (301 to `uri/`, 403 without an index),
//! 404/405, types, `ETag`/`Last-Modified` and the conditional requests, byte ranges,
//! `expires`, `add_header`, HEAD, keep-alive, encoded paths and `..`.
//!
//! The files are made by [`docroot`] in the group's directory before nginx and sluice
//! start, all with one modification time, so `ETag` and `Last-Modified` are the same
//! for both and known here.

use super::run::*;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Every file's modification time: Tue, 02 Jan 2024 03:04:05 GMT.
const MTIME: u64 = 1_704_164_645;
const LAST_MODIFIED: &str = "Tue, 02 Jan 2024 03:04:05 GMT";

/// A 300,000-byte body: several of sluice's read chunks.
fn big() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| {
            if i % 64 == 63 {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

fn docroot(dir: &Path) -> std::io::Result<()> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("html/a.txt", b"hello\n".to_vec()),
        ("html/index.html", b"<p>root index</p>\n".to_vec()),
        ("html/r.bin", b"0123456789abcdefghij".to_vec()),
        ("html/d.json", b"{\"a\":1}\n".to_vec()),
        ("html/noext", b"plain\n".to_vec()),
        ("html/Page.HTML", b"<p>upper</p>\n".to_vec()),
        ("html/x.tar.gz", b"not really gzip\n".to_vec()),
        ("html/.hidden", b"dot file\n".to_vec()),
        ("html/empty.txt", Vec::new()),
        ("html/my file.txt", b"space in the name\n".to_vec()),
        ("html/big.bin", big()),
        ("html/dir/index.html", b"<p>dir index</p>\n".to_vec()),
        ("html/dir/sub/keep.txt", b"no index here\n".to_vec()),
        ("html/sp dir/index.html", b"<p>space dir</p>\n".to_vec()),
        (
            "html/multi/index.htm",
            b"<p>second index name</p>\n".to_vec(),
        ),
        ("html/idxother/page.php", b"<?php never read ?>\n".to_vec()),
        (
            "html/intidx/secret.html",
            b"only the index test sees it\n".to_vec(),
        ),
        ("other/f.txt", b"other\n".to_vec()),
        ("other/n/g.txt", b"nested\n".to_vec()),
        ("other/rv/v.txt", b"root from a variable\n".to_vec()),
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
    std::os::unix::fs::symlink("a.txt", dir.join("html/link.txt"))?;
    std::os::unix::fs::symlink("dir", dir.join("html/linkdir"))?;
    Ok(())
}

pub fn groups() -> Vec<Group> {
    prepare("static", docroot);
    let http = r#"
    include /etc/nginx/mime.types;
    server {
        listen 127.0.0.1:{L0};
        server_name st.test;
        location / { }
        location /al/ { alias {DIR}/other/; }
        location /alnoslash/ { alias {DIR}/other; }
        location /altrav { alias {DIR}/html/dir/; }
        location /ro/ { root {DIR}/other; }
        location /n/ { root other; }
        location /rv/ { root {DIR}/$arg_d; }
        location ~ ^/re/(.+)$ { alias {DIR}/other/$1; }
        location ~ ^/rewhole/ { alias {DIR}/other/; }
        location = /exact.txt { alias {DIR}/other/f.txt; }
        location /types/ {
            alias {DIR}/html/;
            types { text/x-custom txt; }
            default_type application/x-default;
        }
        location /notypes/ { alias {DIR}/html/; types { } }
        location /noetag/ { alias {DIR}/html/; etag off; }
        location /imsbefore/ { alias {DIR}/html/; if_modified_since before; }
        location /imsoff/ { alias {DIR}/html/; if_modified_since off; }
        location /expepoch/ { alias {DIR}/html/; expires epoch; }
        location /expmax/ { alias {DIR}/html/; expires max; }
        location /expmod/ { alias {DIR}/html/; expires modified 1h; }
        location /expmodneg/ { alias {DIR}/html/; expires modified -1d; }
        location /expvar/ { alias {DIR}/html/; expires $arg_e; }
        location /expvarmod/ { alias {DIR}/html/; expires modified $arg_e; }
        location = /retexp { expires epoch; return 200 "return with expires\n"; }
        location = /retexp302 { expires max; return 302 /elsewhere; }
        location /hdr/ {
            alias {DIR}/html/;
            expires epoch;
            add_header X-Static yes;
            add_header X-Always yes always;
        }
        location /multi/ { index nothing.html index.htm; }
        location /idxabs/ { index /dir/index.html; }
        location /idxother/ { index page.php; }
        location ~ \.php$ { return 200 "php location got $uri\n"; }
        location /intidx/ { index secret.html; }
        location = /intidx/secret.html {
            internal;
            return 200 "internal location reached by the index redirect\n";
        }
        location /idxvar/ { alias {DIR}/html/dir/; index $arg_i; }
        location /quiet/ { alias {DIR}/html/; log_not_found off; sendfile on; tcp_nopush on; }
    }
    server {
        listen 127.0.0.1:{L1};
        root {DIR}/other;
        expires max;
        location / { }
        location /n/ { expires off; }
        location /al2/ {
            alias {DIR}/html/;
            location /al2/dir/ { }
        }
    }
    server {
        listen 127.0.0.1:{L2};
        root {DIR}/other/;
        index g.txt;
    }
"#
    .to_string();
    let lm = LAST_MODIFIED;
    let etag_a = format!("\"{MTIME:x}-6\"");
    let etag_r = format!("\"{MTIME:x}-14\"");
    let cases = vec![
        // Files, headers, types.
        case("static_file_with_nginx_headers").get("/a.txt"),
        case("static_head_has_headers_and_no_body")
            .req("HEAD /a.txt HTTP/1.1\r\nHost: test\r\n\r\n"),
        case("static_type_from_mime_types").get("/d.json"),
        case("static_no_extension_gets_default_type").get("/noext"),
        case("static_extension_matched_case_insensitively").get("/Page.HTML"),
        case("static_last_extension_decides").get("/x.tar.gz"),
        case("static_dot_file_has_no_extension").get("/.hidden"),
        case("static_empty_file").get("/empty.txt"),
        case("static_location_types_block_and_default_type")
            .get("/types/a.txt")
            .get("/types/d.json"),
        case("static_empty_types_block_uses_default_type").get("/notypes/index.html"),
        case("static_large_file_streamed").get("/big.bin"),
        case("static_keepalive_serves_several_files")
            .get("/a.txt")
            .get("/d.json")
            .get("/missing")
            .get("/r.bin"),
        case("static_http10_closes").req("GET /a.txt HTTP/1.0\r\n\r\n"),
        case("static_http09_body_only")
            .send(b"GET /a.txt\r\n")
            .raw(800),
        case("static_sendfile_and_tcp_nopush_accepted").get("/quiet/a.txt"),
        // Errors.
        case("static_missing_file_404").get("/missing.txt"),
        case("static_missing_file_log_not_found_off_still_404").get("/quiet/missing.txt"),
        case("static_file_used_as_directory_404").get("/a.txt/x"),
        case("static_post_to_file_405_then_keepalive")
            .req("POST /a.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nbody")
            .get("/a.txt"),
        case("static_put_405")
            .req("PUT /missing HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"),
        case("static_delete_directory_405").req("DELETE /dir/ HTTP/1.1\r\nHost: test\r\n\r\n"),
        case("static_post_directory_index_405")
            .req("POST /dir/ HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"),
        case("static_expect_100_continue_before_file")
            .req("GET /a.txt HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody")
            .read()
            .get("/d.json"),
        case("static_expect_no_100_continue_on_405")
            .req("POST /a.txt HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody")
            .get("/a.txt"),
        case("static_expect_no_100_continue_on_404")
            .req("GET /missing HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody")
            .get("/a.txt"),
        case("static_post_missing_file_404")
            .req("POST /missing HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"),
        // Directories and index.
        case("static_directory_without_slash_301").get("/dir"),
        case("static_directory_301_keeps_args_escaped").get("/dir?a=1&b"),
        case("static_directory_301_host_and_port")
            .req("GET /dir HTTP/1.1\r\nHost: Other.Test:8080\r\n\r\n"),
        case("static_directory_with_space_301_escaped").get("/sp%20dir"),
        case("static_directory_with_space_301_with_args_escaped").get("/sp%20dir?x"),
        case("static_head_directory_301").req("HEAD /dir HTTP/1.1\r\nHost: test\r\n\r\n"),
        case("static_index_of_root").get("/"),
        case("static_index_of_directory").get("/dir/"),
        case("static_index_keeps_args").get("/dir/?q=1"),
        case("static_directory_without_index_403").get("/dir/sub/"),
        case("static_missing_directory_404").get("/nodir/"),
        case("static_file_with_trailing_slash_404").get("/a.txt/"),
        case("static_index_second_name").get("/multi/"),
        case("static_index_absolute_name").get("/idxabs/"),
        case("static_index_redirect_searches_locations_again").get("/idxother/"),
        case("static_index_redirect_reaches_internal_location").get("/intidx/"),
        case("static_internal_location_from_outside_404").get("/intidx/secret.html"),
        case("static_index_with_variable").get("/idxvar/?i=index.html"),
        case("static_index_variable_missing_403").get("/idxvar/?i=none.html"),
        case("static_index_redirect_cycle_500").get("/idxvar/?i="),
        case("static_head_index").req("HEAD /dir/ HTTP/1.1\r\nHost: test\r\n\r\n"),
        // Symlinks (disable_symlinks off), encoded paths and dot segments.
        case("static_symlink_to_file_followed").get("/link.txt"),
        case("static_symlink_to_directory_followed").get("/linkdir/"),
        case("static_symlink_directory_without_slash_301").get("/linkdir"),
        case("static_encoded_name").get("/%61.txt"),
        case("static_encoded_space_in_name").get("/my%20file.txt"),
        case("static_dot_dot_reaches_file").get("/dir/../a.txt"),
        case("static_encoded_dot_dot_reaches_file").get("/dir/%2E%2E/a.txt"),
        case("static_double_slashes_merged").get("//dir///index.html"),
        case("static_dot_dot_above_root_400").get("/../a.txt"),
        // root and alias.
        case("static_alias_replaces_the_prefix").get("/al/f.txt"),
        case("static_alias_inherited_by_nested_location").get("/al/n/g.txt"),
        case("static_alias_directory_index")
            .port(1)
            .get("/al2/dir/"),
        case("static_alias_directory_301_escaped").get("/al/n"),
        case("static_alias_missing_slash_trap_404").get("/alnoslash/f.txt"),
        case("static_alias_missing_slash_index_403").get("/alnoslash/"),
        case("static_alias_dot_dot_trap_reaches_parent").get("/altrav../a.txt"),
        case("static_alias_without_slash_in_name").get("/altrav/index.html"),
        case("static_root_keeps_the_location_prefix_404").get("/ro/f.txt"),
        case("static_root_relative_to_prefix").get("/n/g.txt"),
        case("static_root_with_variable").get("/rv/v.txt?d=other"),
        case("static_regex_alias_with_capture").get("/re/n/g.txt"),
        case("static_regex_alias_without_capture_is_the_directory").get("/rewhole/f.txt"),
        case("static_exact_location_alias_to_file").get("/exact.txt"),
        case("static_server_level_root").port(1).get("/f.txt"),
        case("static_no_location_serves_from_server_root")
            .port(2)
            .get("/f.txt")
            .get("/n/"),
        case("static_regex_alias_directory_without_index_403").get("/re/n/"),
        // Entity tag, Last-Modified and conditional requests.
        case("static_etag_off").get("/noetag/a.txt"),
        case("static_if_modified_since_exact_304")
            .get_h("/a.txt", &format!("If-Modified-Since: {lm}\r\n")),
        case("static_if_modified_since_other_date_200").get_h(
            "/a.txt",
            "If-Modified-Since: Wed, 03 Jan 2024 00:00:00 GMT\r\n",
        ),
        case("static_if_modified_since_rfc850_304").get_h(
            "/a.txt",
            "If-Modified-Since: Tuesday, 02-Jan-24 03:04:05 GMT\r\n",
        ),
        case("static_if_modified_since_asctime_304")
            .get_h("/a.txt", "If-Modified-Since: Tue Jan  2 03:04:05 2024\r\n"),
        case("static_if_modified_since_invalid_200")
            .get_h("/a.txt", "If-Modified-Since: yesterday\r\n"),
        case("static_if_modified_since_before_later_date_304").get_h(
            "/imsbefore/a.txt",
            "If-Modified-Since: Wed, 03 Jan 2024 00:00:00 GMT\r\n",
        ),
        case("static_if_modified_since_off_200")
            .get_h("/imsoff/a.txt", &format!("If-Modified-Since: {lm}\r\n")),
        case("static_if_none_match_304")
            .get_h("/a.txt", &format!("If-None-Match: \"x\", {etag_a}\r\n")),
        case("static_if_none_match_weak_304")
            .get_h("/a.txt", &format!("If-None-Match: W/{etag_a}\r\n")),
        case("static_if_none_match_other_200").get_h("/a.txt", "If-None-Match: \"other\"\r\n"),
        case("static_if_none_match_star_304").get_h("/a.txt", "If-None-Match: *\r\n"),
        case("static_if_none_match_without_etag_200")
            .get_h("/noetag/a.txt", &format!("If-None-Match: {etag_a}\r\n")),
        case("static_if_match_fails_412_and_closes")
            .get_h("/a.txt", "If-Match: \"other\"\r\n")
            .get("/a.txt"),
        case("static_if_match_passes_200").get_h("/a.txt", &format!("If-Match: {etag_a}\r\n")),
        case("static_if_unmodified_since_passes_200")
            .get_h("/a.txt", &format!("If-Unmodified-Since: {lm}\r\n")),
        case("static_if_unmodified_since_fails_412").get_h(
            "/a.txt",
            "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n",
        ),
        case("static_304_with_expires_and_add_header")
            .get_h("/hdr/a.txt", &format!("If-Modified-Since: {lm}\r\n")),
        // Byte ranges.
        case("static_range_closed_206").get_h("/r.bin", "Range: bytes=2-4\r\n"),
        case("static_range_suffix_206").get_h("/r.bin", "Range: bytes=-3\r\n"),
        case("static_range_open_ended_206").get_h("/r.bin", "Range: bytes=15-\r\n"),
        case("static_range_end_beyond_size_clipped").get_h("/r.bin", "Range: bytes=10-999\r\n"),
        case("static_range_suffix_longer_than_file").get_h("/r.bin", "Range: bytes=-99\r\n"),
        case("static_range_spaces_and_case").get_h("/r.bin", "Range: BYTES= 1 - 2 \r\n"),
        case("static_range_start_beyond_size_416_keeps_alive")
            .get_h("/r.bin", "Range: bytes=20-\r\n")
            .get("/a.txt"),
        case("static_range_malformed_416").get_h("/r.bin", "Range: bytes=abc\r\n"),
        case("static_range_reversed_416").get_h("/r.bin", "Range: bytes=5-2\r\n"),
        case("static_range_other_unit_ignored").get_h("/r.bin", "Range: items=0-1\r\n"),
        case("static_range_empty_spec_ignored").get_h("/r.bin", "Range: bytes\r\n"),
        case("static_range_overlapping_total_too_big_200")
            .get_h("/r.bin", "Range: bytes=0-15,5-19\r\n"),
        case("static_range_multipart_206").get_h("/r.bin", "Range: bytes=0-1,3-4,-2\r\n"),
        case("static_range_on_empty_file_200").get_h("/empty.txt", "Range: bytes=0-\r\n"),
        case("static_range_in_large_file_across_chunks")
            .get_h("/big.bin", "Range: bytes=131000-131100\r\n"),
        case("static_range_head_206")
            .req("HEAD /r.bin HTTP/1.1\r\nHost: test\r\nRange: bytes=0-4\r\n\r\n"),
        case("static_range_http10").req("GET /r.bin HTTP/1.0\r\nRange: bytes=0-4\r\n\r\n"),
        case("static_range_if_range_etag_matches_206").get_h(
            "/r.bin",
            &format!("Range: bytes=0-4\r\nIf-Range: {etag_r}\r\n"),
        ),
        case("static_range_if_range_etag_differs_200")
            .get_h("/r.bin", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n"),
        case("static_range_if_range_date_matches_206")
            .get_h("/r.bin", &format!("Range: bytes=0-4\r\nIf-Range: {lm}\r\n")),
        case("static_range_if_range_date_differs_200").get_h(
            "/r.bin",
            "Range: bytes=0-4\r\nIf-Range: Mon, 01 Jan 2024 00:00:00 GMT\r\n",
        ),
        case("static_range_with_if_modified_since_304").get_h(
            "/r.bin",
            &format!("Range: bytes=0-4\r\nIf-Modified-Since: {lm}\r\n"),
        ),
        case("static_range_416_keeps_expires_and_add_header")
            .get_h("/hdr/r.bin", "Range: bytes=30-\r\n"),
        case("static_range_206_with_expires_and_add_header")
            .get_h("/hdr/r.bin", "Range: bytes=0-0\r\n"),
        // expires and add_header (time-independent variants; `expires 1h` and other
        // values counted from now are checked by unit tests in static_files.rs).
        case("static_expires_epoch").get("/expepoch/a.txt"),
        case("static_expires_max").get("/expmax/a.txt"),
        case("static_expires_modified_in_the_past_no_cache").get("/expmod/a.txt"),
        case("static_expires_modified_negative").get("/expmodneg/a.txt"),
        case("static_expires_not_on_404").get("/expepoch/missing"),
        case("static_expires_on_directory_301").get("/expepoch/dir"),
        case("static_expires_inherited_from_server")
            .port(1)
            .get("/f.txt"),
        case("static_expires_off_in_location")
            .port(1)
            .get("/n/g.txt"),
        case("static_expires_variable_epoch").get("/expvar/a.txt?e=epoch"),
        case("static_expires_variable_max").get("/expvar/a.txt?e=max"),
        case("static_expires_variable_off").get("/expvar/a.txt?e=off"),
        case("static_expires_variable_invalid_adds_nothing").get("/expvar/a.txt?e=soon"),
        case("static_expires_variable_modified").get("/expvarmod/a.txt?e=1h"),
        case("static_expires_variable_modified_epoch_invalid").get("/expvarmod/a.txt?e=epoch"),
        case("static_expires_on_return_200").get("/retexp"),
        case("static_expires_on_return_302").get("/retexp302"),
        case("static_add_header_on_200").get("/hdr/a.txt"),
        case("static_add_header_always_only_on_404").get("/hdr/missing"),
        case("static_add_header_on_head").req("HEAD /hdr/a.txt HTTP/1.1\r\nHost: test\r\n\r\n"),
    ];
    vec![Group {
        name: "static",
        origins: 0,
        http,
        cases,
    }]
}
