//! HTTP/1.x wire format, nginx-style: request heads, chunked bodies.
pub mod adapter;
pub mod chunked;
pub mod headers;
pub mod parse;
