//! `ssl_password_file` and `proxy_ssl_password_file` (`ngx_ssl_read_password_file()`):
//! the passphrases of encrypted keys, one per line, each tried in turn on every key.
//!
//! The file is read when the directive is read (its errors carry the directive's
//! `in FILE:LINE`) and again when the keys are loaded for serving.

use std::io::Read;
use std::path::Path;

/// nginx's `NGX_SSL_PASSWORD_BUFFER_SIZE`: a line must be shorter.
const LINE_MAX: usize = 4096;

/// The passphrases of a password file, in order: lines split at LF, one CR before the
/// LF dropped, a last line without LF kept; an empty file gives one empty passphrase.
/// The error is nginx's message for the file, without its location: `open() "F" failed
/// (2: No such file or directory)`, `read() "F" failed (21: Is a directory)`, `too long
/// line in "F"`.
pub fn read(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let shown = path.display();
    let sys = |call: &str, e: std::io::Error| {
        let errno = e.raw_os_error().unwrap_or(0);
        format!(
            "{call}() \"{shown}\" failed ({errno}: {})",
            crate::strerror(errno)
        )
    };
    let mut f = std::fs::File::open(path).map_err(|e| sys("open", e))?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(|e| sys("read", e))?;
    parse(&text).ok_or_else(|| format!("too long line in \"{shown}\""))
}

/// The passphrases in a password file's bytes; `None` when a line is too long.
pub fn parse(text: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (mut line, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if line.len() >= LINE_MAX {
            return None;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        out.push(line.to_vec());
        rest = next;
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lines_as_nginx_splits_them() {
        let p = |s: &[u8]| {
            parse(s).map(|v| {
                v.into_iter()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(p(b"a\nb\n"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(p(b"a\r\nsecret"), Some(vec!["a".into(), "secret".into()]));
        assert_eq!(
            p(b"\n\nx\n"),
            Some(vec![String::new(), String::new(), "x".into()])
        );
        assert_eq!(p(b""), Some(vec![String::new()]));
        assert_eq!(p(b"a\r\r\n"), Some(vec!["a\r".into()]));
        assert_eq!(p(&[b'x'; 4095]).map(|v| v.len()), Some(1));
        assert_eq!(p(&[b'x'; 4096]), None);
        let mut long = vec![b'y'; 4096];
        long.push(b'\n');
        assert_eq!(p(&long), None);
    }
}
