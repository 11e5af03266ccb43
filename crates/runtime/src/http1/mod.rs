//! HTTP/1.x wire format, nginx-style: request heads, chunked bodies.
pub mod adapter;
pub mod chunked;
pub mod headers;
pub mod parse;

/// Calls `check` with `start` and every string made by appending up to `max_added` bytes
/// of `alphabet` to it; returns how many were checked (the exhaustive tests of the
/// parser's shortcuts against the functions they stand in for).
#[cfg(test)]
pub(crate) fn each_string(
    start: &[u8],
    alphabet: &[u8],
    max_added: usize,
    mut check: impl FnMut(&[u8]),
) -> usize {
    let mut checked = 0;
    let mut stack: Vec<Vec<u8>> = vec![start.to_vec()];
    while let Some(s) = stack.pop() {
        check(&s);
        checked += 1;
        if s.len() < start.len() + max_added {
            for &c in alphabet {
                let mut t = s.clone();
                t.push(c);
                stack.push(t);
            }
        }
    }
    checked
}
