//! Arbitrary bytes into the tokenizer/tree builder and the value grammars: nothing may
//! panic, and every span must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_parser::ast::{Directive, File, Word};
use sluice_parser::{parse, template, units, FileId, ParseOptions, MAX_DEPTH};

fn kv(name: &str) -> bool {
    matches!(
        name,
        "map" | "types" | "geo" | "split_clients" | "charset_map"
    )
}

fn check_word(w: &Word, len: usize, lines: u32) {
    let s = w.span;
    assert!(s.start <= s.end && s.end as usize <= len, "word span {s:?}");
    assert!(
        1 <= s.line && s.line <= s.end_line && s.end_line <= lines,
        "word lines {s:?}"
    );
}

fn check_items(src: &[u8], items: &[Directive], depth: usize, lines: u32) {
    assert!(depth <= MAX_DEPTH, "nested {depth} deep");
    for d in items {
        let s = d.span;
        assert!(s.start < s.end && s.end as usize <= src.len(), "span {s:?}");
        assert!(s.line <= s.end_line && s.end_line <= lines, "lines {s:?}");
        let term = src[s.end as usize - 1];
        assert!(term == b';' || term == b'{', "terminator {term}");
        assert_eq!(d.block.is_some(), term == b'{');
        check_word(&d.name, src.len(), lines);
        assert_eq!(d.name.span.start, s.start);
        for a in &d.args {
            check_word(a, src.len(), lines);
            assert!(a.span.end <= s.end);
        }
        if let Some(b) = &d.block {
            assert!(b.close_line == 0 || b.close_line >= s.end_line);
            check_items(src, &b.items, depth + 1, lines);
        }
    }
}

fn check_file(src: &[u8], f: &File) {
    let lines = u32::try_from(src.iter().filter(|&&b| b == b'\n').count() + 1).unwrap_or(u32::MAX);
    check_items(src, &f.items, 0, lines);
    if let Some(e) = f.first_error() {
        let (_, line) = e.at.expect("syntax errors have a position");
        assert!(1 <= line && line <= lines, "error line {line} of {lines}");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = parse(data, FileId(0), ParseOptions::default());
    check_file(data, &f);
    let f = parse(
        data,
        FileId(1),
        ParseOptions {
            kv_block: &kv,
            kv_top: true,
            command_line: false,
        },
    );
    check_file(data, &f);
    let f = parse(
        data,
        FileId(2),
        ParseOptions {
            kv_block: &kv,
            kv_top: false,
            command_line: true,
        },
    );
    check_file(data, &f);

    let s = String::from_utf8_lossy(data);
    let _ = template::split(&s);
    let _ = template::var_names(&s).count();
    let _ = template::has_variables(&s);
    let _ = units::parse_time(&s, true);
    let _ = units::parse_time(&s, false);
    let _ = units::parse_size(&s);
    let _ = units::parse_offset(&s);
    let _ = units::parse_number(&s);
});
