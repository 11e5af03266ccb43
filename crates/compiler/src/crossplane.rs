//! `sluice --dump=json`: the parsed configuration in crossplane's JSON shape, so tools
//! built on `crossplane parse` can read it. Only syntax is checked here (as crossplane
//! does by default with its own tokenizer); includes are followed and listed.

use crate::check::is_kv_block;
use serde_json::{json, Value};
use sluice_parser::ast::Directive;
use sluice_parser::{parse, FileId, ParseOptions};
use std::path::{Path, PathBuf};

/// Builds the JSON for the main file and everything it includes.
pub fn dump(main: &Path) -> Value {
    let conf_dir = main
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut files: Vec<PathBuf> = vec![main.to_path_buf()];
    let mut configs: Vec<Value> = Vec::new();
    let mut all_errors: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < files.len() {
        let path = files[i].clone();
        let shown = path.display().to_string();
        let mut errors: Vec<Value> = Vec::new();
        let parsed = match std::fs::read(&path) {
            Ok(text) => {
                let opts = ParseOptions {
                    kv_block: &is_kv_block,
                    ..ParseOptions::default()
                };
                let file = parse(&text, FileId(i as u32), opts);
                if let Some(e) = file.first_error() {
                    let line = e.at.map(|(_, l)| l);
                    errors.push(json!({"error": format!("{} in {}:{}", e.message, shown, line.unwrap_or(0)), "line": line}));
                }
                let mut ctx = Walk {
                    conf_dir: &conf_dir,
                    files: &mut files,
                    errors: &mut errors,
                    shown: &shown,
                };
                ctx.directives(&file.items)
            }
            Err(e) => {
                errors.push(json!({"error": format!("[Errno {}] {}: '{}'", e.raw_os_error().unwrap_or(0), crate::check::strerror(e.raw_os_error().unwrap_or(0)), shown), "line": Value::Null}));
                Vec::new()
            }
        };
        for e in &errors {
            all_errors.push(json!({"file": shown, "error": e["error"], "line": e["line"]}));
        }
        let status = if errors.is_empty() { "ok" } else { "failed" };
        configs.push(json!({"file": shown, "status": status, "errors": errors, "parsed": parsed}));
        i += 1;
    }
    let status = if all_errors.is_empty() {
        "ok"
    } else {
        "failed"
    };
    json!({"status": status, "errors": all_errors, "config": configs})
}

struct Walk<'a> {
    conf_dir: &'a Path,
    files: &'a mut Vec<PathBuf>,
    errors: &'a mut Vec<Value>,
    shown: &'a str,
}

impl Walk<'_> {
    fn directives(&mut self, items: &[Directive]) -> Vec<Value> {
        items.iter().map(|d| self.directive(d)).collect()
    }

    fn directive(&mut self, d: &Directive) -> Value {
        let args: Vec<&str> = d.args.iter().map(|w| w.value.as_str()).collect();
        let mut v = json!({"directive": d.name.value, "line": d.span.line, "args": args});
        if d.name.value == "include" && d.args.len() == 1 {
            let pattern = &d.args[0].value;
            let full = if pattern.starts_with('/') {
                PathBuf::from(pattern)
            } else {
                self.conf_dir.join(pattern)
            };
            let mut matched: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
                glob::glob(&full.display().to_string())
                    .map(|g| g.filter_map(Result::ok).collect())
                    .unwrap_or_default()
            } else if full.exists() {
                vec![full.clone()]
            } else {
                self.errors.push(json!({
                    "error": format!("open() \"{}\" failed (2: No such file or directory) in {}:{}", full.display(), self.shown, d.line()),
                    "line": d.span.line,
                }));
                Vec::new()
            };
            matched.sort();
            let mut idx = Vec::new();
            for m in matched {
                let n = match self.files.iter().position(|f| *f == m) {
                    Some(n) => n,
                    None => {
                        self.files.push(m);
                        self.files.len() - 1
                    }
                };
                idx.push(n);
            }
            v["includes"] = json!(idx);
        }
        if let Some(b) = &d.block {
            v["block"] = Value::Array(self.directives(&b.items));
        }
        v
    }
}
