//! Prints, for each file named on the command line, the syntax error sluice-parser
//! stops at, as `PATH<TAB>LINE<TAB>MESSAGE` (or `PATH<TAB>0<TAB>ok`). With `--kv-top`
//! the files are read as if included from inside a key/value block (`types { ... }`).
//! Used by `fuzz/nginx_diff.py` to compare with nginx on the fuzz corpus.

use sluice_parser::{parse, FileId, ParseOptions};

fn main() {
    let mut kv_top = false;
    for arg in std::env::args().skip(1) {
        if arg == "--kv-top" {
            kv_top = true;
            continue;
        }
        let src = match std::fs::read(&arg) {
            Ok(src) => src,
            Err(e) => {
                eprintln!("{arg}: {e}");
                std::process::exit(2);
            }
        };
        let opts = ParseOptions {
            kv_top,
            ..Default::default()
        };
        let file = parse(&src, FileId(0), opts);
        match file.first_error() {
            Some(e) => {
                let line = e.at.map_or(0, |(_, l)| l);
                let msg = e.message.replace(['\n', '\t'], " ");
                println!("{arg}\t{line}\t{msg}");
            }
            None => println!("{arg}\t0\tok"),
        }
    }
}
