//! Builds the tree from the lexer's directives, the way `ngx_conf_parse()` nests them.
//! Iterative, so that no input can exhaust the stack.

use crate::ast::{Block, Directive, File, Terminator, Word};
use crate::lexer::{Lexer, Token};
use crate::{Diagnostic, FileId, Span};

/// Blocks nested deeper than this are refused: nginx has no limit, but no real
/// configuration comes near it, and a bound keeps every later pass's recursion safe.
pub const MAX_DEPTH: usize = 64;

/// What the caller tells the parser about the language it does not know itself.
#[derive(Clone, Copy)]
pub struct ParseOptions<'a> {
    /// Whether a block opened by a directive of this name holds key/value entries
    /// (nginx parses it with a custom handler: `map`, `types`, `geo`, ...). Inside
    /// such a block a `{` is the error `unexpected "{"`.
    pub kv_block: &'a dyn Fn(&str) -> bool,
    /// The file's top level is itself inside a key/value block (an `include` in `map`).
    pub kv_top: bool,
    /// The text comes from `-g`: EOF mid-directive is "unexpected end of parameter",
    /// a `{` is "block directives are not supported in -g option", and words have no
    /// 4096-byte limit (nginx never refills the buffer holding `-g` text).
    pub command_line: bool,
}

impl Default for ParseOptions<'_> {
    fn default() -> Self {
        ParseOptions {
            kv_block: &|_| false,
            kv_top: false,
            command_line: false,
        }
    }
}

struct Frame {
    name: Word,
    args: Vec<Word>,
    span: Span,
    kv: bool,
    items: Vec<Directive>,
}

/// Parses one file. Never fails: a syntax error truncates the tree where nginx stops
/// and is stored on the innermost open block (or the file).
pub fn parse(src: &[u8], file: FileId, opts: ParseOptions<'_>) -> File {
    let mut lexer = Lexer::new(src, file, opts.command_line);
    let mut top: Vec<Directive> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();

    let error: Diagnostic = loop {
        let kv_here = stack.last().map_or(opts.kv_top, |f| f.kv);
        match lexer.next() {
            Token::Directive {
                mut words,
                brace,
                term_at,
                term_line,
            } => {
                let name = words.remove(0);
                let span = Span {
                    file,
                    start: name.span.start,
                    end: term_at + 1,
                    line: name.span.line,
                    end_line: term_line,
                };
                if brace {
                    if opts.command_line {
                        break Diagnostic::emerg(
                            "block directives are not supported in -g option",
                            file,
                            term_line,
                        );
                    }
                    if kv_here {
                        break Diagnostic::emerg("unexpected \"{\"", file, term_line);
                    }
                    if stack.len() >= MAX_DEPTH {
                        break Diagnostic::emerg(
                            format!("blocks nested more than {MAX_DEPTH} deep"),
                            file,
                            term_line,
                        )
                        .with_rule("nesting-limit");
                    }
                    let kv = (opts.kv_block)(&name.value);
                    stack.push(Frame {
                        name,
                        args: words,
                        span,
                        kv,
                        items: Vec::new(),
                    });
                } else {
                    let d = Directive {
                        name,
                        args: words,
                        terminator: Terminator::Semicolon,
                        block: None,
                        span,
                    };
                    match stack.last_mut() {
                        Some(f) => f.items.push(d),
                        None => top.push(d),
                    }
                }
            }
            Token::BlockDone { line } => {
                let Some(frame) = stack.pop() else {
                    break Diagnostic::emerg("unexpected \"}\"", file, line);
                };
                let block = Block {
                    items: frame.items,
                    error: None,
                    close_line: line,
                };
                let d = close(frame.name, frame.args, frame.span, block);
                match stack.last_mut() {
                    Some(f) => f.items.push(d),
                    None => top.push(d),
                }
            }
            Token::FileDone => {
                if stack.is_empty() {
                    return File {
                        items: top,
                        error: None,
                    };
                }
                break Diagnostic::emerg(
                    "unexpected end of file, expecting \"}\"",
                    file,
                    lexer.line(),
                );
            }
            Token::Error(d) => break d,
        }
    };

    // Unwind: the innermost open block carries the error, the outer ones are truncated.
    let mut pending = Some(error);
    while let Some(frame) = stack.pop() {
        let block = Block {
            items: frame.items,
            error: pending.take(),
            close_line: 0,
        };
        let d = close(frame.name, frame.args, frame.span, block);
        match stack.last_mut() {
            Some(f) => f.items.push(d),
            None => top.push(d),
        }
    }
    File {
        items: top,
        error: pending,
    }
}

fn close(name: Word, args: Vec<Word>, span: Span, block: Block) -> Directive {
    Directive {
        name,
        args,
        terminator: Terminator::Brace,
        block: Some(block),
        span,
    }
}
