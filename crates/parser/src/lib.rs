//! sluice-parser: nginx.conf text → tokens → AST with spans.
//!
//! This crate knows no directive names and does no I/O: it takes bytes and a [`FileId`]
//! and returns an [`ast::File`] together with at most one syntax error, exactly where
//! nginx 1.22.1 would stop reading (see SEMANTICS §1.1). Which blocks hold key/value
//! entries (`map`, `types`, ...) is told by the caller through [`ParseOptions`].
//!
//! Parsing never panics and never fails: a broken input gives a truncated tree plus the
//! [`Diagnostic`] that stopped it.
#![deny(missing_docs)]

pub mod ast;
mod diag;
mod lexer;
mod parse;
pub mod template;
pub mod units;

pub use diag::{Diagnostic, Level};
pub use parse::{parse, ParseOptions, MAX_DEPTH};

/// Identifies one source file in the caller's source map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A place in a source file: byte range plus the lines it starts and ends on.
///
/// nginx reports a directive at the line where its terminating `;` or `{` was read,
/// which is [`Span::end_line`]; tools such as crossplane report [`Span::line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
    /// Line (1-based) of the first byte.
    pub line: u32,
    /// Line (1-based) of the last byte.
    pub end_line: u32,
}
