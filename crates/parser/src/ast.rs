//! The syntax tree: directives with their words, blocks and spans. Nothing here is
//! interpreted; a `map` entry and a `proxy_pass` look alike.

use crate::{Diagnostic, Span};

/// One word of a directive, after nginx's escape rewriting (SEMANTICS §1.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The value with quotes removed and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` rewritten.
    /// Bytes that are not UTF-8 are replaced by U+FFFD.
    pub value: String,
    /// Whether the word was written in `"` or `'` quotes.
    pub quoted: bool,
    /// Where the word stands, quotes included.
    pub span: Span,
}

impl Word {
    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// How a directive was terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// `;`
    Semicolon,
    /// `{`: a block follows.
    Brace,
}

/// A directive: a name, its arguments and, if it ended with `{`, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The first word.
    pub name: Word,
    /// The other words.
    pub args: Vec<Word>,
    /// How it ended.
    pub terminator: Terminator,
    /// The block, present iff `terminator` is [`Terminator::Brace`].
    pub block: Option<Block>,
    /// From the first byte of the name to the terminator (`;` or `{`) inclusive.
    /// `span.end_line` is the line nginx reports errors at.
    pub span: Span,
}

impl Directive {
    /// Line nginx reports for this directive: where its `;` or `{` was read.
    #[allow(
        clippy::misnamed_getters,
        reason = "nginx reports the terminator's line, not the first word's"
    )]
    pub fn line(&self) -> u32 {
        self.span.end_line
    }
}

/// The inside of `{ ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    /// The directives (or key/value entries) in order.
    pub items: Vec<Directive>,
    /// Set when reading stopped inside this block: the syntax error nginx reports once
    /// it has processed every item before it.
    pub error: Option<Diagnostic>,
    /// Line of the closing `}` (0 if reading stopped before it).
    pub close_line: u32,
}

/// A whole file: the top-level items, and the syntax error that stopped reading, if
/// it stopped at the top level. (An error inside a block is on that block.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    /// Top-level directives.
    pub items: Vec<Directive>,
    /// A syntax error met at the top level.
    pub error: Option<Diagnostic>,
}

impl File {
    /// The syntax error that stopped reading, wherever it is in the tree.
    pub fn first_error(&self) -> Option<&Diagnostic> {
        fn in_items(items: &[Directive]) -> Option<&Diagnostic> {
            let last = items.last()?;
            let block = last.block.as_ref()?;
            in_items(&block.items).or(block.error.as_ref())
        }
        in_items(&self.items).or(self.error.as_ref())
    }
}
