//! `docs/compat.md` lists every directive nginx 1.22.1 knows with what sluice does with
//! it. The table is generated from the registry and `status.rs`; this test fails when
//! the file is stale. `UPDATE_COMPAT=1 cargo test -p sluice-compiler --test compat_doc`
//! rewrites it.

use sluice_compiler::registry::{ctx, extension_since, DIRECTIVES, EXTENSIONS};
use sluice_compiler::status::{status, Status, REFUSED_UNSAFE};
use std::path::PathBuf;

const BEGIN: &str = "<!-- BEGIN GENERATED: directive table -->";
const END: &str = "<!-- END GENERATED -->";

fn contexts(bits: u32) -> String {
    let names = [
        (ctx::MAIN, "main"),
        (ctx::EVENTS, "events"),
        (ctx::HTTP, "http"),
        (ctx::SRV, "server"),
        (ctx::LOC, "location"),
        (ctx::UPS, "upstream"),
        (ctx::SIF, "if (server)"),
        (ctx::LIF, "if (location)"),
        (ctx::LMT, "limit_except"),
        (ctx::STREAM, "stream"),
        (ctx::STREAM_SRV, "stream server"),
        (ctx::STREAM_UPS, "stream upstream"),
        (ctx::MAIL, "mail"),
        (ctx::MAIL_SRV, "mail server"),
    ];
    names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn table() -> String {
    let mut out = String::new();
    out.push_str("| directive | module | contexts | sluice |\n|---|---|---|---|\n");
    for s in DIRECTIVES {
        let st = match status(s.name) {
            Status::Implemented => "supported",
            Status::NotImplemented => "accepted with a warning, ignored",
            Status::RefusedUnsafe => "**refused** (unsafe to ignore)",
        };
        let module = match s.dynamic {
            Some(so) => format!("{} (`load_module {so}`)", s.module),
            None => s.module.to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {module} | {} | {st} |\n",
            s.name,
            contexts(s.ctx)
        ));
    }
    // Directives of later nginx versions sluice accepts (nginx 1.22.1 refuses them).
    for s in EXTENSIONS {
        let since = extension_since(s.name).unwrap_or("?");
        out.push_str(&format!(
            "| `{}` | {} (nginx {since}, not in 1.22.1) | {} | supported (extension: `[warn] ... (sluice: extension)`) |\n",
            s.name,
            s.module,
            contexts(s.ctx)
        ));
    }
    out
}

#[test]
fn compat_doc_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/compat.md");
    let text = std::fs::read_to_string(&path).expect("docs/compat.md exists");
    let (head, rest) = text.split_once(BEGIN).expect("generated section start");
    let (_, tail) = rest.split_once(END).expect("generated section end");
    let fresh = format!("{head}{BEGIN}\n{}{END}{tail}", table());
    if std::env::var_os("UPDATE_COMPAT").is_some() {
        std::fs::write(&path, &fresh).expect("rewrite docs/compat.md");
        return;
    }
    assert!(fresh == text, "docs/compat.md is stale: run UPDATE_COMPAT=1 cargo test -p sluice-compiler --test compat_doc");
    for name in REFUSED_UNSAFE {
        assert!(
            head.contains(&format!("`{name}`")),
            "the refused list in docs/compat.md misses {name}"
        );
    }
}
