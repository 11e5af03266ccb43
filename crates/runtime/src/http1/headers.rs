//! Header lines as offsets into the buffer they were read into: one allocation for the
//! list and no reference count per line (a request head and an upstream's response head
//! are each read once per request, and most lines are only looked at).

use bytes::Bytes;

/// Header lines of one head, in arrival order, names as sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderList {
    buf: Bytes,
    /// Name start, name length, value start, value length.
    spans: Vec<[u32; 4]>,
}

impl HeaderList {
    /// Lines of `buf` at the given offsets; a span outside `buf` reads as empty.
    pub fn new(buf: Bytes, spans: Vec<[u32; 4]>) -> HeaderList {
        HeaderList { buf, spans }
    }

    /// A list of the given lines, copied into one buffer (heads made up rather than read).
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> HeaderList {
        HeaderList::copied(lines, 0, 0)
    }

    /// [`HeaderList::from_lines`] into buffers made `size` bytes and `count` lines big.
    fn copied<'a>(
        lines: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        size: usize,
        count: usize,
    ) -> HeaderList {
        let mut buf = Vec::with_capacity(size);
        let mut spans = Vec::with_capacity(count);
        for (n, v) in lines {
            let at = buf.len() as u32;
            buf.extend_from_slice(n);
            buf.extend_from_slice(v);
            spans.push([at, n.len() as u32, at + n.len() as u32, v.len() as u32]);
        }
        HeaderList::new(Bytes::from(buf), spans)
    }

    fn part(&self, start: u32, len: u32) -> &[u8] {
        let (s, l) = (start as usize, len as usize);
        s.checked_add(l)
            .and_then(|e| self.buf.get(s..e))
            .unwrap_or_default()
    }

    fn line(&self, span: &[u32; 4]) -> (&[u8], &[u8]) {
        let [n, nl, v, vl] = *span;
        (self.part(n, nl), self.part(v, vl))
    }

    /// The buffer the lines were read into.
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No lines.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Line `i`: name and value.
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.spans.get(i).map(|s| self.line(s))
    }

    /// The lines in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            spans: self.spans.iter(),
        }
    }

    /// The first value of the header named `name` (ASCII case-insensitive).
    pub fn find(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// A value read from this list as `Bytes` sharing the buffer (for variables).
    pub fn share(&self, value: &[u8]) -> Bytes {
        let base = self.buf.as_ptr() as usize;
        let at = (value.as_ptr() as usize).wrapping_sub(base);
        if value.is_empty()
            || at
                .checked_add(value.len())
                .is_none_or(|e| e > self.buf.len())
        {
            Bytes::copy_from_slice(value)
        } else {
            self.buf.slice_ref(value)
        }
    }

    /// Copies the lines into a buffer of their own size, releasing the (larger) buffer
    /// they were read into: for lists kept for a long time (a tunnel's log line).
    pub fn compact(&mut self) {
        let size = self.iter().map(|(n, v)| n.len() + v.len()).sum();
        *self = HeaderList::copied(self.iter(), size, self.len());
    }
}

/// The lines of a [`HeaderList`], in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    list: &'a HeaderList,
    spans: std::slice::Iter<'a, [u32; 4]>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let list = self.list;
        self.spans.next().map(|s| list.line(s))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let list = self.list;
        self.spans.next_back().map(|s| list.line(s))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HeaderList {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_find_share_and_compact() {
        let buf = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\nX-Y: bc\r\n\r\n");
        let mut l = HeaderList::new(buf, vec![[16, 4, 22, 1], [25, 3, 30, 2], [90, 2, 95, 1]]);
        let lines: Vec<(Vec<u8>, Vec<u8>)> =
            l.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        let owned = |l: &HeaderList| -> Vec<(Vec<u8>, Vec<u8>)> {
            l.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
        };
        let want: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"Host".to_vec(), b"a".to_vec()),
            (b"X-Y".to_vec(), b"bc".to_vec()),
            (vec![], vec![]),
        ];
        assert_eq!(lines, want);
        assert_eq!(l.find(b"x-y"), Some(&b"bc"[..]));
        assert_eq!(l.iter().next_back(), Some((&b""[..], &b""[..])));
        let v = l.find(b"host").map(|v| l.share(v));
        assert_eq!(v.as_deref(), Some(&b"a"[..]));
        l.compact();
        assert_eq!(owned(&l), lines);
    }
}
