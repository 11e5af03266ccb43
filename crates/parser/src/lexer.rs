//! A byte-for-byte port of nginx 1.22.1's `ngx_conf_read_token()`
//! (`src/core/ngx_conf_file.c`). nginx's tokenizer is a state machine whose errors
//! depend on state carried between bytes (a closing quote needs a space after it, `#`
//! opens a comment only at a word's start, `${` does not open a block), so it is
//! ported as one rather than expressed as combinators; `nom` is used for the value
//! grammars instead ([`crate::template`], [`crate::units`]).

use crate::ast::Word;
use crate::{Diagnostic, FileId, Span};

/// nginx reads configuration files through a 4096-byte buffer; a token that does not
/// fit is an error (`NGX_CONF_BUFFER`).
pub const CONF_BUFFER: usize = 4096;

/// What one call of [`Lexer::next`] read.
#[derive(Debug)]
pub enum Token {
    /// Words terminated by `;` (`brace == false`) or `{` (`brace == true`).
    Directive {
        /// The words, at least one.
        words: Vec<Word>,
        /// Whether `{` ended it.
        brace: bool,
        /// Byte offset of the terminator.
        term_at: u32,
        /// Line of the terminator.
        term_line: u32,
    },
    /// A `}` with no words pending.
    BlockDone {
        /// Its line.
        line: u32,
    },
    /// End of input with no words pending.
    FileDone,
    /// A syntax error; reading stops.
    Error(Diagnostic),
}

/// The tokenizer over one file's bytes.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    file: FileId,
    /// `-g` text: EOF inside a directive says "end of parameter" instead of "end of file".
    command_line: bool,
}

fn is_space(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'a [u8], file: FileId, command_line: bool) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            file,
            command_line,
        }
    }

    /// The current line: "LFs seen + 1".
    pub fn line(&self) -> u32 {
        self.line
    }

    fn error(&self, message: String, line: u32) -> Token {
        Token::Error(Diagnostic::emerg(message, self.file, line))
    }

    /// Reads the next directive (or `}` or end of file), as `ngx_conf_read_token` does.
    pub fn next(&mut self) -> Token {
        let mut words: Vec<Word> = Vec::new();
        let mut need_space = false;
        let mut last_space = true;
        let mut sharp_comment = false;
        let mut variable = false;
        let mut quoted = false;
        let mut s_quoted = false;
        let mut d_quoted = false;
        // Where the current word started (after an opening quote), and on which line;
        // `word_start` is where it started including the quote, for its span.
        let mut start = self.pos;
        let mut start_line = self.line;
        let mut word_start = self.pos;
        let mut word_quoted = false;

        loop {
            if self.pos >= self.src.len() {
                if !words.is_empty() || !last_space {
                    let msg = if self.command_line {
                        "unexpected end of parameter, expecting \";\""
                    } else {
                        "unexpected end of file, expecting \";\" or \"}\""
                    };
                    return self.error(msg.to_string(), self.line);
                }
                return Token::FileDone;
            }
            // nginx refills its buffer here; a word (or comment) that has not ended
            // within the buffer's size is "too long". `-g` text is one buffer that is
            // never refilled, so it has no such limit.
            if !self.command_line && self.pos - start == CONF_BUFFER {
                let ch = if d_quoted {
                    '"'
                } else if s_quoted {
                    '\''
                } else {
                    let head = String::from_utf8_lossy(&self.src[start..start + 10]);
                    return self.error(
                        format!("too long parameter \"{head}...\" started"),
                        start_line,
                    );
                };
                return self.error(
                    format!("too long parameter, probably missing terminating \"{ch}\" character"),
                    start_line,
                );
            }

            let ch = self.src[self.pos];
            self.pos += 1;

            if ch == b'\n' {
                self.line += 1;
                if sharp_comment {
                    sharp_comment = false;
                }
            }
            if sharp_comment {
                continue;
            }
            if quoted {
                quoted = false;
                continue;
            }

            if need_space {
                if is_space(ch) {
                    last_space = true;
                    need_space = false;
                    continue;
                }
                if ch == b';' || ch == b'{' {
                    return self.finish(words, ch == b'{');
                }
                if ch == b')' {
                    last_space = true;
                    need_space = false;
                } else {
                    let shown = char::from(ch);
                    return self.error(
                        format!("unexpected \"{}\"", display_byte(ch, shown)),
                        self.line,
                    );
                }
            }

            if last_space {
                // As in nginx, `start` follows every byte between words, whitespace
                // included: the 4096-byte limit below counts from here, so a long run
                // of blanks is not a "too long parameter".
                start = self.pos - 1;
                start_line = self.line;
                if is_space(ch) {
                    continue;
                }
                word_start = start;
                word_quoted = false;

                match ch {
                    b';' | b'{' => {
                        if words.is_empty() {
                            return self
                                .error(format!("unexpected \"{}\"", char::from(ch)), self.line);
                        }
                        return self.finish(words, ch == b'{');
                    }
                    b'}' => {
                        if !words.is_empty() {
                            return self.error("unexpected \"}\"".to_string(), self.line);
                        }
                        return Token::BlockDone { line: self.line };
                    }
                    b'#' => {
                        sharp_comment = true;
                        continue;
                    }
                    b'\\' => {
                        quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'"' => {
                        start += 1;
                        d_quoted = true;
                        word_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'\'' => {
                        start += 1;
                        s_quoted = true;
                        word_quoted = true;
                        last_space = false;
                        continue;
                    }
                    b'$' => {
                        variable = true;
                        last_space = false;
                        continue;
                    }
                    _ => {
                        last_space = false;
                    }
                }
            } else {
                if ch == b'{' && variable {
                    continue;
                }
                variable = false;
                if ch == b'\\' {
                    quoted = true;
                    continue;
                }
                if ch == b'$' {
                    variable = true;
                    continue;
                }

                let mut found = false;
                if d_quoted {
                    if ch == b'"' {
                        d_quoted = false;
                        need_space = true;
                        found = true;
                    }
                } else if s_quoted {
                    if ch == b'\'' {
                        s_quoted = false;
                        need_space = true;
                        found = true;
                    }
                } else if is_space(ch) || ch == b';' || ch == b'{' {
                    last_space = true;
                    found = true;
                }

                if found {
                    // The word is [start, pos - 1): the terminating byte is excluded.
                    let end = self.pos - 1;
                    let value = unescape(&self.src[start..end]);
                    let span_end = if word_quoted { self.pos } else { end };
                    let end_line = self.line - u32::from(ch == b'\n' && !word_quoted);
                    words.push(Word {
                        value,
                        quoted: word_quoted,
                        span: Span {
                            file: self.file,
                            start: word_start as u32,
                            end: span_end as u32,
                            line: start_line,
                            end_line,
                        },
                    });
                    if ch == b';' || ch == b'{' {
                        return self.finish(words, ch == b'{');
                    }
                }
            }
        }
    }

    fn finish(&mut self, words: Vec<Word>, brace: bool) -> Token {
        Token::Directive {
            words,
            brace,
            term_at: (self.pos - 1) as u32,
            term_line: self.line,
        }
    }
}

/// nginx prints the offending byte with `%c`; a byte that is not printable ASCII is
/// shown as the replacement character.
fn display_byte(ch: u8, shown: char) -> char {
    if ch.is_ascii() {
        shown
    } else {
        char::REPLACEMENT_CHARACTER
    }
}

/// nginx's escape rewriting once a word is cut: `\"`, `\'`, `\\` lose the backslash,
/// `\t`, `\r`, `\n` become TAB, CR, LF, and any other `\X` keeps both bytes.
fn unescape(raw: &[u8]) -> String {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(b'"' | b'\'' | b'\\') => {
                    i += 1;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
