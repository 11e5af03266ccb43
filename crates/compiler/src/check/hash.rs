//! `ngx_hash_add_key()` (`src/core/ngx_hash.c` of 1.22.1) as far as `-t` can see it:
//! which keys conflict. `map` entries and the server names of one address go through
//! it; so do the warnings and errors nginx prints for them.

use std::collections::HashSet;

/// What adding a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// New key (`NGX_OK`).
    Ok,
    /// The key, or what it stands for, is already there (`NGX_BUSY`).
    Busy,
    /// Not a valid wildcard (`NGX_DECLINED`).
    Declined,
}

/// The three tables of an `ngx_hash_keys_arrays_t`: exact names, leading wildcards
/// (`*.example.com`, `.example.com`) and trailing wildcards (`www.example.*`).
#[derive(Debug, Default)]
pub(crate) struct HashKeys {
    exact: HashSet<String>,
    head: HashSet<String>,
    tail: HashSet<String>,
}

impl HashKeys {
    /// `ngx_hash_add_key(ha, key, value, wildcard ? NGX_HASH_WILDCARD_KEY : 0)`.
    /// Keys are compared lowercased, as nginx lowercases them in place.
    pub fn add(&mut self, key: &str, wildcard: bool) -> Added {
        let k = key.to_ascii_lowercase();
        if !wildcard {
            return if self.exact.insert(k) {
                Added::Ok
            } else {
                Added::Busy
            };
        }
        let b = k.as_bytes();
        let mut stars = 0;
        for (i, &c) in b.iter().enumerate() {
            if c == b'*' {
                stars += 1;
                if stars > 1 {
                    return Added::Declined;
                }
            }
            if c == b'.' && b.get(i + 1) == Some(&b'.') {
                return Added::Declined;
            }
            if c == 0 {
                return Added::Declined;
            }
        }
        if b.len() > 1 && b[0] == b'.' {
            // ".example.com" is both "example.com" and "*.example.com"; nginx adds the
            // exact name before it looks at the wildcard table, and keeps it.
            let name = &k[1..];
            if !self.exact.insert(name.to_string()) {
                return Added::Busy;
            }
            return if self.head.insert(name.to_string()) {
                Added::Ok
            } else {
                Added::Busy
            };
        }
        if b.len() > 2 {
            if b[0] == b'*' && b[1] == b'.' {
                return if self.head.insert(k[2..].to_string()) {
                    Added::Ok
                } else {
                    Added::Busy
                };
            }
            if b[b.len() - 2] == b'.' && b[b.len() - 1] == b'*' {
                return if self.tail.insert(k[..k.len() - 1].to_string()) {
                    Added::Ok
                } else {
                    Added::Busy
                };
            }
        }
        if stars > 0 {
            return Added::Declined;
        }
        if self.exact.insert(k) {
            Added::Ok
        } else {
            Added::Busy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_name_takes_the_exact_name_too() {
        let mut h = HashKeys::default();
        assert_eq!(h.add(".a.test", true), Added::Ok);
        assert_eq!(h.add("A.test", true), Added::Busy);
        assert_eq!(h.add("*.a.test", true), Added::Busy);
    }

    #[test]
    fn wildcards() {
        let mut h = HashKeys::default();
        assert_eq!(h.add("*.a.test", true), Added::Ok);
        assert_eq!(h.add("a.test", true), Added::Ok);
        assert_eq!(h.add(".a.test", true), Added::Busy);
        assert_eq!(h.add("www.a.*", true), Added::Ok);
        assert_eq!(h.add("www.a.*", true), Added::Busy);
        assert_eq!(h.add("a*b", true), Added::Declined);
        assert_eq!(h.add("*.a.*", true), Added::Declined);
        assert_eq!(h.add("a..b", true), Added::Declined);
        assert_eq!(h.add("a*b", false), Added::Ok);
    }
}
