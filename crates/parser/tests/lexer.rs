//! Tokenizer tests: one or more per rule of SEMANTICS §1.1, each error message and line
//! checked first against nginx 1.22.1 (`nginx -t` on the same text).
//!
//! nginx was run with `events {}\n` in front of each snippet (so nginx's line is the one
//! below plus 1), and snippets whose words are not directives were put inside
//! `http { types { ... } }` or given as a directive name (nginx's `unknown directive
//! "NAME"` shows the word's bytes after escape rewriting). Snapshots:
//! `UPDATE_EXPECT=1 cargo test -p sluice-parser --test lexer`.

use expect_test::{expect, Expect};
use sluice_parser::ast::{Directive, File, Word};
use sluice_parser::{parse, Diagnostic, FileId, ParseOptions, MAX_DEPTH};

fn kv(name: &str) -> bool {
    matches!(
        name,
        "map" | "types" | "geo" | "split_clients" | "charset_map"
    )
}

fn opts() -> ParseOptions<'static> {
    ParseOptions {
        kv_block: &kv,
        ..Default::default()
    }
}

/// A word's value with TAB, CR, LF and other control bytes made visible; values longer
/// than 40 bytes are shortened to their first 10 characters and their length.
fn show(value: &str) -> String {
    let mut out = String::new();
    let shown: &str = if value.len() > 40 {
        let cut = value.char_indices().nth(10).map_or(value.len(), |(i, _)| i);
        &value[..cut]
    } else {
        value
    };
    for c in shown.chars() {
        match c {
            '\t' => out.push('␉'),
            '\r' => out.push('␍'),
            '\n' => out.push('␊'),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    if shown.len() < value.len() {
        out.push_str(&format!("…({} bytes)", value.len()));
    }
    out
}

/// `[value]`, or `q[value]` when the word was quoted.
fn word(w: &Word) -> String {
    let q = if w.quoted { "q" } else { "" };
    format!("{q}[{}]", show(&w.value))
}

fn name(w: &Word) -> String {
    if w.quoted {
        word(w)
    } else {
        show(&w.value)
    }
}

fn dump_items(items: &[Directive], depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    for d in items {
        out.push_str(&indent);
        out.push_str(&name(&d.name));
        for a in &d.args {
            out.push(' ');
            out.push_str(&word(a));
        }
        match &d.block {
            None => out.push_str(&format!(" ;@{}\n", d.line())),
            Some(b) => {
                out.push_str(&format!(" {{@{}\n", d.line()));
                dump_items(&b.items, depth + 1, out);
                if b.close_line == 0 {
                    out.push_str(&format!("{indent}(unclosed)\n"));
                } else {
                    out.push_str(&format!("{indent}}}@{}\n", b.close_line));
                }
            }
        }
    }
}

/// `error: MESSAGE @LINE`, with ` (sluice: RULE)` after a message nginx would not print.
fn error(e: &Diagnostic) -> String {
    let mut out = format!("error: {}", e.message);
    if let Some(rule) = e.rule {
        out.push_str(&format!(" (sluice: {rule})"));
    }
    if let Some((_, line)) = e.at {
        out.push_str(&format!(" @{line}"));
    }
    out
}

fn dump(file: &File) -> String {
    let mut out = String::new();
    dump_items(&file.items, 0, &mut out);
    if let Some(e) = file.first_error() {
        out.push_str(&error(e));
        out.push('\n');
    }
    out
}

fn check_with(src: &[u8], opts: ParseOptions<'_>, expect: Expect) {
    expect.assert_eq(&dump(&parse(src, FileId(0), opts)));
}

fn check(src: &str, expect: Expect) {
    check_with(src.as_bytes(), opts(), expect);
}

fn check_bytes(src: &[u8], expect: Expect) {
    check_with(src, opts(), expect);
}

fn check_cmdline(src: &str, expect: Expect) {
    let o = ParseOptions {
        command_line: true,
        ..opts()
    };
    check_with(src.as_bytes(), o, expect);
}

fn a(n: usize) -> String {
    "a".repeat(n)
}

// ---- Rule 1: directives end with `;` or `{ ... }` -----------------------------------

#[test]
fn r1_simple_and_block_directives() {
    check(
        "a;\nb c {\n  d e;\n  f {}\n}\ng h;\n",
        expect![[r#"
            a ;@1
            b [c] {@2
              d [e] ;@3
              f {@4
              }@4
            }@5
            g [h] ;@6
        "#]],
    );
}

#[test]
fn r1_empty_input_and_only_comments() {
    check("", expect![[""]]);
    check(" \t\r\n# x\n", expect![[""]]);
}

// ---- Rule 2: separators are space, TAB, CR, LF ---------------------------------------

#[test]
fn r2_separators() {
    check(
        "a\tb  c\r\n\td\n;\n",
        expect![[r#"
            a [b] [c] [d] ;@3
        "#]],
    );
}

// ---- Rule 3: an unquoted word ends only at whitespace, `;` or `{` --------------------

#[test]
fn r3_unquoted_word_keeps_close_brace_hash_and_quotes() {
    // nginx: unknown directive "x}y" (for `x}y a#b a"b'c;`)
    check(
        "return 200 x}y a#b a\"b'c;\n",
        expect![[r#"
            return [200] [x}y] [a#b] [a"b'c] ;@1
        "#]],
    );
}

#[test]
fn r3_close_brace_glued_to_a_word_does_not_close() {
    // nginx: unexpected end of file, expecting ";" or "}" in nginx.conf:4
    check(
        "location / { return 200 ok}\n\n",
        expect![[r#"
            location [/] {@1
            (unclosed)
            error: unexpected end of file, expecting ";" or "}" @3
        "#]],
    );
}

#[test]
fn r3_open_brace_ends_a_word() {
    check(
        "a b{c;}\n",
        expect![[r#"
            a [b] {@1
              c ;@1
            }@1
        "#]],
    );
}

// ---- Rule 4: `#` opens a comment only at the start of a word -------------------------

#[test]
fn r4_comments_only_at_word_start() {
    // nginx: `# a; b { }` then `# end` without a final LF is a valid file.
    check(
        "# top; { }\na b#c; # tail ; {\nd {#x\n}#y\ne;#z\nf 'q'\t#w\n;\n# no LF at end",
        expect![[r#"
            a [b#c] ;@2
            d {@3
            }@4
            e ;@5
            f q[q] ;@7
        "#]],
    );
}

#[test]
fn r4_hash_right_after_closing_quote_is_an_error() {
    // nginx: unexpected "#" in nginx.conf:2
    check(
        "\"a\"#c\n;\n",
        expect![[r##"
            error: unexpected "#" @1
        "##]],
    );
}

// ---- Rule 5: quoted words ------------------------------------------------------------

#[test]
fn r5_quoted_words_hold_whitespace_and_specials() {
    check(
        "a \"b c;{}#\nd\" 'e\"f' \"it's\" 'x}';\n",
        expect![[r#"
            a q[b c;{}#␊d] q[e"f] q[it's] q[x}] ;@2
        "#]],
    );
}

#[test]
fn r5_empty_quoted_words_are_empty_args() {
    check(
        "a \"\" '' \"\";\n",
        expect![[r#"
            a q[] q[] q[] ;@1
        "#]],
    );
}

#[test]
fn r5_char_after_closing_quote() {
    // nginx: unexpected "d" in nginx.conf:2
    check(
        "\"abc\"def;\n",
        expect![[r#"
            error: unexpected "d" @1
        "#]],
    );
    // nginx: unexpected "'" in nginx.conf:2
    check(
        "\"a\"'b' ;\n",
        expect![[r#"
            error: unexpected "'" @1
        "#]],
    );
    // nginx: unexpected "}" in nginx.conf:2
    check(
        "\"a\"}\n",
        expect![[r#"
            error: unexpected "}" @1
        "#]],
    );
}

#[test]
fn r5_char_after_closing_quote_counts_lines_inside_the_quote() {
    // nginx: unexpected "d" in nginx.conf:4
    check(
        "a \"b\n\nc\"d;\n",
        expect![[r#"
            error: unexpected "d" @3
        "#]],
    );
}

#[test]
fn r5_what_may_follow_a_closing_quote() {
    // `;`, `{`, whitespace and `)`; the `)` then starts a word of its own.
    check(
        "if ($a = \"x\") {\n}\na \"b\"{}\nc 'd'\t;\ne \"f\")g;\n",
        expect![[r#"
            if [($a] [=] q[x] [)] {@1
            }@2
            a q[b] {@3
            }@3
            c q[d] ;@4
            e q[f] [)g] ;@5
        "#]],
    );
}

// ---- Rule 6: backslash ---------------------------------------------------------------

#[test]
fn r6_unquoted_backslash_space_and_semicolon_stay() {
    // nginx: unknown directive "x\ y\;z"
    check(
        "x\\ y\\;z;\n",
        expect![[r#"
            x\ y\;z ;@1
        "#]],
    );
    let f = parse(b"x\\ y\\;z;", FileId(0), opts());
    assert_eq!(f.items[0].name.value.len(), 7);
}

#[test]
fn r6_escape_rewriting_same_inside_and_outside_quotes() {
    // nginx: unknown directive "a<TAB>b\q\" for `"a\tb\q\\";`
    check(
        r#"x "a\tb\q\\" 'a\tb\q\\' a\tb\q\\ "\"" '\'' a\"b\'c "\r\n" \\t;"#,
        expect![[r#"
            x q[a␉b\q\] q[a␉b\q\] [a␉b\q\] q["] q['] [a"b'c] q[␍␊] [\t] ;@1
        "#]],
    );
}

#[test]
fn r6_backslash_at_word_start_and_before_newline() {
    // nginx: unknown directive "\;" in :2; unknown directive "a\<LF>b" in :3
    check(
        "\\;;\n",
        expect![[r#"
            \; ;@1
        "#]],
    );
    check(
        "a\\\nb;\n",
        expect![[r#"
            a\␊b ;@2
        "#]],
    );
}

#[test]
fn r6_escaped_brace_and_quote_do_not_end_the_word() {
    check(
        "a\\{b c\\\"d \"e\\\"f\";\n",
        expect![[r#"
            a\{b [c"d] q[e"f] ;@1
        "#]],
    );
}

#[test]
fn r6_backslash_at_eof() {
    // nginx: unexpected end of file, expecting ";" or "}" in nginx.conf:2
    check(
        "x \\",
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @1
        "#]],
    );
}

// ---- Rule 7: variables ---------------------------------------------------------------

#[test]
fn r7_dollar_brace_does_not_open_a_block() {
    // nginx: unknown directive "${scheme}_x"; `${ b;` in types is the word `${`.
    check(
        "a ${scheme}_x $b ${c}${d} x${e}y $ ${ f;\n",
        expect![[r#"
            a [${scheme}_x] [$b] [${c}${d}] [x${e}y] [$] [${] [f] ;@1
        "#]],
    );
}

#[test]
fn r7_brace_after_a_variable_name_opens_a_block() {
    // nginx (in `types`): unexpected "{" for `a $b{c;`, `a ${b}{c;` and `a \${b};`
    check(
        "a $b{\n}\nc ${d}{\n}\n",
        expect![[r#"
            a [$b] {@1
            }@2
            c [${d}] {@3
            }@4
        "#]],
    );
    check(
        "types {\n a \\${b};\n}\n",
        expect![[r#"
            types {@1
            (unclosed)
            error: unexpected "{" @2
        "#]],
    );
}

// ---- Rule 8: lexer errors ------------------------------------------------------------

#[test]
fn r8_semicolon_without_words() {
    // nginx: unexpected ";" in nginx.conf:2
    check(
        ";\n",
        expect![[r#"
            error: unexpected ";" @1
        "#]],
    );
    check(
        "a {\n b;\n ;\n}\n",
        expect![[r#"
            a {@1
              b ;@2
            (unclosed)
            error: unexpected ";" @3
        "#]],
    );
}

#[test]
fn r8_open_brace_without_words() {
    // nginx: unexpected "{" in nginx.conf:2
    check(
        "{\n",
        expect![[r#"
            error: unexpected "{" @1
        "#]],
    );
}

#[test]
fn r8_close_brace_with_words_pending() {
    // nginx: unexpected "}" in nginx.conf:2
    check(
        "a }\n",
        expect![[r#"
            error: unexpected "}" @1
        "#]],
    );
    check(
        "a {\n b\n}\n",
        expect![[r#"
            a {@1
            (unclosed)
            error: unexpected "}" @3
        "#]],
    );
}

#[test]
fn r8_close_brace_at_top_level() {
    // nginx: unexpected "}" in nginx.conf:2; after a closed block: nginx.conf:6
    check(
        "}\n",
        expect![[r#"
            error: unexpected "}" @1
        "#]],
    );
    check(
        "http {\n server {\n }\n}\n}\n",
        expect![[r#"
            http {@1
              server {@2
              }@3
            }@4
            error: unexpected "}" @5
        "#]],
    );
}

#[test]
fn r8_eof_mid_directive() {
    // nginx: `a` → :2, `a\n` → :3, `x "a\n\n` → :4
    check(
        "a",
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @1
        "#]],
    );
    check(
        "a\n",
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @2
        "#]],
    );
    check(
        "x \"a\n\n",
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @3
        "#]],
    );
    check(
        "x \"a\"",
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @1
        "#]],
    );
}

#[test]
fn r8_eof_inside_a_block() {
    // nginx: `http {` → :2, `http {\n` → :3, `http {\n server {\n\n` → :5
    check(
        "http {",
        expect![[r#"
            http {@1
            (unclosed)
            error: unexpected end of file, expecting "}" @1
        "#]],
    );
    check(
        "http {\n",
        expect![[r#"
            http {@1
            (unclosed)
            error: unexpected end of file, expecting "}" @2
        "#]],
    );
    check(
        "http {\n server {\n\n",
        expect![[r#"
            http {@1
              server {@2
              (unclosed)
            (unclosed)
            error: unexpected end of file, expecting "}" @4
        "#]],
    );
}

// The 4096-byte rule: nginx checks `b->pos - start == NGX_CONF_BUFFER` each time its
// buffer runs dry and the file has more bytes. `start` is where the current word began
// (after an opening quote), and between words it follows every byte, whitespace
// included; inside a comment it stays on the `#`. The effect does not depend on where
// the buffer boundaries fall (checked with 3000 bytes of comment in front).

#[test]
fn r8_too_long_unquoted_word() {
    // nginx: 4096 bytes then `;` → too long parameter "aaaaaaaaaa..." started in :2
    check(
        &format!("{};\n", a(4096)),
        expect![[r#"
            error: too long parameter "aaaaaaaaaa..." started @1
        "#]],
    );
    // nginx: 4095 bytes then `;` → unknown directive "aaa..."
    check(
        &format!("{};\n", a(4095)),
        expect![[r#"
            aaaaaaaaaa…(4095 bytes) ;@1
        "#]],
    );
    // nginx: 4095 bytes then ` b;` → too long (the space is read before the check)
    check(
        &format!("{} b;\n", a(4095)),
        expect![[r#"
            error: too long parameter "aaaaaaaaaa..." started @1
        "#]],
    );
    // nginx: 4094 bytes then ` b;` → unknown directive
    check(
        &format!("{} b;\n", a(4094)),
        expect![[r#"
            aaaaaaaaaa…(4094 bytes) [b] ;@1
        "#]],
    );
}

#[test]
fn r8_too_long_only_if_more_bytes_follow() {
    // nginx: 4096 bytes and EOF → unexpected end of file; 4097 → too long
    check(
        &a(4096),
        expect![[r#"
            error: unexpected end of file, expecting ";" or "}" @1
        "#]],
    );
    check(
        &a(4097),
        expect![[r#"
            error: too long parameter "aaaaaaaaaa..." started @1
        "#]],
    );
}

#[test]
fn r8_too_long_does_not_depend_on_buffer_alignment() {
    // nginx: 3000 bytes of comment, then 4096 → too long in :3; 4095 → unknown directive
    let pad = "#".repeat(3000);
    check(
        &format!("{pad}\n{};\n", a(4096)),
        expect![[r#"
            error: too long parameter "aaaaaaaaaa..." started @2
        "#]],
    );
    check(
        &format!("{pad}\n{};\n", a(4095)),
        expect![[r#"
            aaaaaaaaaa…(4095 bytes) ;@2
        "#]],
    );
}

#[test]
fn r8_too_long_word_starting_with_backslash() {
    // nginx: too long parameter "\aaaaaaaaa..." started in :4
    check(
        &format!("\n\nx \\{};\n", a(5000)),
        expect![[r#"
            error: too long parameter "\aaaaaaaaa..." started @3
        "#]],
    );
}

#[test]
fn r8_too_long_quoted_word() {
    // nginx: too long parameter, probably missing terminating """ character in :2
    check(
        &format!("x \"{}\";\n", a(5000)),
        expect![[r#"
            error: too long parameter, probably missing terminating """ character @1
        "#]],
    );
    // nginx: ... "'" character in :2 — the line of the opening quote
    check(
        &format!("x '\n\n{}';\n", a(5000)),
        expect![[r#"
            error: too long parameter, probably missing terminating "'" character @1
        "#]],
    );
}

#[test]
fn r8_too_long_after_a_closing_quote() {
    // After `"...."` and one whitespace byte `start` has not moved yet.
    // nginx: `"` + 4094 bytes + `" b;` → too long parameter "aaaaaaaaaa..." started
    check(
        &format!("\"{}\" b;\n", a(4094)),
        expect![[r#"
            error: too long parameter "aaaaaaaaaa..." started @1
        "#]],
    );
    // nginx: 4093 bytes + `" b;` and 4094 bytes + `";` → unknown directive
    check(
        &format!("\"{}\" b;\n", a(4093)),
        expect![[r#"
            q[aaaaaaaaaa…(4093 bytes)] [b] ;@1
        "#]],
    );
    check(
        &format!("\"{}\";\n", a(4094)),
        expect![[r#"
            q[aaaaaaaaaa…(4094 bytes)] ;@1
        "#]],
    );
}

#[test]
fn r8_too_long_comment() {
    // nginx: `#` + 4095 bytes + LF → too long parameter "#ccccccccc..." started in :2
    check(
        &format!("#{}\nx;\n", "c".repeat(4095)),
        expect![[r##"
            error: too long parameter "#ccccccccc..." started @1
        "##]],
    );
    // nginx: `#` + 4094 bytes + LF → fine (unknown directive "x" in :3)
    check(
        &format!("#{}\nx;\n", "c".repeat(4094)),
        expect![[r#"
            x ;@2
        "#]],
    );
}

#[test]
fn r8_long_whitespace_is_not_too_long() {
    // nginx: unknown directive "x" in :2, :5002 and :2 — no length error.
    check(
        &format!("{}x;\n", " ".repeat(5000)),
        expect![[r#"
            x ;@1
        "#]],
    );
    check(
        &format!("{}x;\n", "\n".repeat(5000)),
        expect![[r#"
            x ;@5001
        "#]],
    );
    check(
        &format!("x{};\n", " ".repeat(5000)),
        expect![[r#"
            x ;@1
        "#]],
    );
    check(
        &format!("# c\n{}x;\n", "\t".repeat(5000)),
        expect![[r#"
            x ;@2
        "#]],
    );
}

// ---- Rule 9: line numbers ------------------------------------------------------------

#[test]
fn r9_directive_is_reported_at_its_terminator() {
    // nginx: `worker_processes` on line 4 (+1), its `;` on line 8 (+1): error at :9
    check(
        "a;\nb;\nc;\nworker_processes\n\n\n\nx\n;\n",
        expect![[r#"
            a ;@1
            b ;@2
            c ;@3
            worker_processes [x] ;@9
        "#]],
    );
    check(
        "a;\nb;\nc;\nd\n\n\ne\n;\n",
        expect![[r#"
            a ;@1
            b ;@2
            c ;@3
            d [e] ;@8
        "#]],
    );
}

#[test]
fn r9_blocks_at_their_open_and_close_braces() {
    check(
        "a\n{\n b\n;\n}\n",
        expect![[r#"
            a {@2
              b ;@4
            }@5
        "#]],
    );
}

#[test]
fn r9_eof_errors_at_the_line_after_the_last_lf() {
    // nginx: `http {\n\n` → :4
    check(
        "http {\n\n",
        expect![[r#"
            http {@1
            (unclosed)
            error: unexpected end of file, expecting "}" @3
        "#]],
    );
}

// ---- key/value blocks ----------------------------------------------------------------

#[test]
fn kv_block_refuses_a_brace() {
    // nginx: `http {\n map $a $b {\n x {\n }\n }\n}` → unexpected "{" in :4
    check(
        "map $a $b {\n x {\n }\n}\n",
        expect![[r#"
            map [$a] [$b] {@1
            (unclosed)
            error: unexpected "{" @2
        "#]],
    );
    // nginx: `http {\n types { x { } }\n}` → unexpected "{" in :3
    check(
        "types { x { } }\n",
        expect![[r#"
            types {@1
            (unclosed)
            error: unexpected "{" @1
        "#]],
    );
}

#[test]
fn kv_block_entries_keep_their_words() {
    check(
        "map $a $b {\n default 0;\n ~^/x \"1 2\";\n}\nserver {\n location / {\n }\n}\n",
        expect![[r#"
            map [$a] [$b] {@1
              default [0] ;@2
              ~^/x q[1 2] ;@3
            }@4
            server {@5
              location [/] {@6
              }@7
            }@8
        "#]],
    );
}

#[test]
fn kv_top_file_refuses_a_brace() {
    // A file included from inside `map`.
    let o = ParseOptions {
        kv_top: true,
        ..opts()
    };
    check_with(
        b"a b;\nc {\n",
        o,
        expect![[r#"
            a [b] ;@1
            error: unexpected "{" @2
        "#]],
    );
}

// ---- nesting limit (sluice's own: nginx has none) ------------------------------------

#[test]
fn depth_limit() {
    let ok = format!("{}{}", "a {\n".repeat(MAX_DEPTH), "}\n".repeat(MAX_DEPTH));
    let f = parse(ok.as_bytes(), FileId(0), opts());
    assert_eq!(f.first_error(), None);
    let deep = "a {\n".repeat(MAX_DEPTH + 1);
    let f = parse(deep.as_bytes(), FileId(0), opts());
    let e = f.first_error().expect("an error");
    expect![[r#"error: blocks nested more than 64 deep (sluice: nesting-limit) @65"#]]
        .assert_eq(&error(e));
}

// ---- CRLF and CR -------------------------------------------------------------------

#[test]
fn crlf_file() {
    // nginx: `events {}\r\nhttp {\r\n  a b;\r\n` → unknown directive "a" in :3
    check(
        "events {}\r\nhttp {\r\n  a b;\r\n  c \"d\r\ne\";\r\n}\r\n",
        expect![[r#"
            events {@1
            }@1
            http {@2
              a [b] ;@3
              c q[d␍␊e] ;@5
            }@6
        "#]],
    );
    check(
        "http {\r\n  a b;\r\n",
        expect![[r#"
            http {@1
              a [b] ;@2
            (unclosed)
            error: unexpected end of file, expecting "}" @3
        "#]],
    );
}

#[test]
fn cr_alone_is_whitespace_but_not_a_new_line() {
    // nginx: `events {}\rhttp {\r` → unexpected end of file, expecting "}" in :1
    check(
        "events {}\rhttp {\r",
        expect![[r#"
            events {@1
            }@1
            http {@1
            (unclosed)
            error: unexpected end of file, expecting "}" @1
        "#]],
    );
}

// ---- bytes that are not UTF-8 --------------------------------------------------------

#[test]
fn non_utf8_bytes_pass_through_as_replacement_chars() {
    // nginx: unknown directive "\xff\xfe" (raw bytes); the AST holds String values.
    check_bytes(
        b"\xff\xfe a\x80b \"\xc3\x28\" caf\xc3\xa9;\n",
        expect![[r#"
            �� [a�b] q[�(] [café] ;@1
        "#]],
    );
    let f = parse(b"x \xff\xfe;", FileId(0), opts());
    let w = &f.items[0].args[0];
    assert_eq!((w.span.start, w.span.end), (2, 4));
}

#[test]
fn non_utf8_byte_after_closing_quote() {
    // nginx prints the raw byte: unexpected "\xff"; a String message holds U+FFFD.
    check_bytes(
        b"\"a\"\xff;\n",
        expect![[r#"
            error: unexpected "�" @1
        "#]],
    );
}

#[test]
fn nul_byte_is_an_ordinary_byte() {
    check_bytes(
        b"a b\0c;\n",
        expect![[r#"
            a [b\x00c] ;@1
        "#]],
    );
}

// ---- `-g` text -----------------------------------------------------------------------

#[test]
fn command_line_eof() {
    // nginx -g 'pid x' and -g 'x "a': unexpected end of parameter, expecting ";"
    check_cmdline(
        "pid x",
        expect![[r#"
            error: unexpected end of parameter, expecting ";" @1
        "#]],
    );
    check_cmdline(
        "x \"a",
        expect![[r#"
            error: unexpected end of parameter, expecting ";" @1
        "#]],
    );
}

#[test]
fn command_line_refuses_blocks() {
    // nginx -g 'events {}': block directives are not supported in -g option
    check_cmdline(
        "events {}",
        expect![[r#"
            error: block directives are not supported in -g option @1
        "#]],
    );
    // nginx -g 'pid /tmp/x/p;}': unexpected "}"
    check_cmdline(
        "pid x;}",
        expect![[r#"
            pid [x] ;@1
            error: unexpected "}" @1
        "#]],
    );
}

#[test]
fn command_line_has_no_length_limit() {
    // nginx -g 'pid /tmp/x/aaaa(5000)…;' passes the syntax check.
    check_cmdline(
        &format!("pid {};", a(5000)),
        expect![[r#"
            pid [aaaaaaaaaa…(5000 bytes)] ;@1
        "#]],
    );
}

// ---- spans ---------------------------------------------------------------------------

#[test]
fn spans_cover_quotes_and_terminators() {
    let src = b"a \"b c\"\n  'd' e;\nf {\n}\n";
    let f = parse(src, FileId(0), opts());
    let text = |s: sluice_parser::Span| {
        format!(
            "{:?} {}-{}",
            String::from_utf8_lossy(&src[s.start as usize..s.end as usize]),
            s.line,
            s.end_line
        )
    };
    let d = &f.items[0];
    let mut out = vec![text(d.span), text(d.name.span)];
    out.extend(d.args.iter().map(|w| text(w.span)));
    out.push(text(f.items[1].span));
    expect![[r#"
        "a \"b c\"\n  'd' e;" 1-2
        "a" 1-1
        "\"b c\"" 1-1
        "'d'" 2-2
        "e" 2-2
        "f {" 3-3"#]]
    .assert_eq(&out.join("\n"));
}
