//! `ngx_crypt()`: checks a password against an htpasswd entry the way nginx 1.22.1
//! does on Debian. nginx handles `$apr1$`, `{PLAIN}`, `{SHA}` and `{SSHA}` itself and
//! hands anything else to the C library's `crypt(3)` (libxcrypt), then compares the
//! result with the entry byte for byte. Here the `crypt(3)` schemes come from
//! `pwhash` (DES, `_` BSDi, `$1$`, `$2a$`/`$2b$`/`$2y$`, `$sha1$`, `$5$`, `$6$`),
//! `yescrypt` (`$y$`, Debian's default; with `streebog` and `hmac`, `$gy$`) and `scrypt`
//! (`$7$`); an entry in a scheme none of them knows (`$md5`, `$3$`, `$sm3$`, ...) never
//! matches, as an invalid one never does with libxcrypt.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// Whether `password` (from the client) matches `entry` (the field after `user:`).
/// Both are C strings to nginx: each ends at its first NUL byte.
pub fn matches(password: &[u8], entry: &[u8]) -> bool {
    let password = until_nul(password);
    let entry = until_nul(entry);
    if let Some(rest) = entry.strip_prefix(b"$apr1$") {
        return apr1(password, rest) == entry;
    }
    if let Some(rest) = entry.strip_prefix(b"{PLAIN}") {
        return rest == password;
    }
    if let Some(rest) = entry.strip_prefix(b"{SSHA}") {
        return ssha(password, rest).is_some_and(|e| e == entry);
    }
    if let Some(rest) = entry.strip_prefix(b"{SHA}") {
        let digest = Sha1::digest(password);
        return base64::engine::general_purpose::STANDARD
            .encode(digest)
            .as_bytes()
            == rest;
    }
    let Ok(entry) = std::str::from_utf8(entry) else {
        return false;
    };
    if entry.starts_with("$y$") {
        use yescrypt::PasswordVerifier as _;
        return yescrypt::Yescrypt::default()
            .verify_password(password, entry)
            .is_ok();
    }
    if let Some(rest) = entry.strip_prefix("$gy$") {
        return gost_yescrypt(password, entry, rest).is_some_and(|ok| ok);
    }
    if entry.starts_with("$7$") {
        use scrypt::password_hash::PasswordVerifier as _;
        return scrypt::mcf::PasswordHashRef::new(entry)
            .is_ok_and(|h| scrypt::Scrypt::new().verify_password(password, h).is_ok());
    }
    match pwhash::unix::crypt(password, entry) {
        Ok(out) => out.as_bytes() == entry.as_bytes(),
        Err(_) => false,
    }
}

/// libxcrypt's `$gy$` (`crypt_gost_yescrypt_rn()`): yescrypt over the same parameters
/// and salt, then HMAC-Streebog-256(HMAC-Streebog-256(Streebog-256(password), the
/// setting up to the salt's end), the yescrypt output). `None` for a malformed entry.
fn gost_yescrypt(password: &[u8], entry: &str, rest: &str) -> Option<bool> {
    use hmac::{KeyInit as _, Mac as _};
    use streebog::Digest as _;
    type HmacGost = hmac::Hmac<streebog::Streebog256>;
    let mut parts = rest.split('$');
    let (params, salt, hash) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let params: yescrypt::Params = params.parse().ok()?;
    let salt_bin = mcf::Base64::Crypt.decode_vec(salt).ok()?;
    let mut y = [0u8; 32];
    yescrypt::yescrypt(password, &salt_bin, &params, &mut y).ok()?;
    let hk = streebog::Streebog256::digest(password);
    // The message is as long as "$y$PARAMS$SALT$", taken from "$gy$PARAMS$SALT$...".
    let msg_len = 3 + rest.len() - hash.len();
    let mut inner = HmacGost::new_from_slice(&hk).ok()?;
    inner.update(entry.as_bytes().get(..msg_len)?);
    let interm = inner.finalize().into_bytes();
    let mut outer = HmacGost::new_from_slice(&interm).ok()?;
    outer.update(&y);
    let out = outer.finalize().into_bytes();
    Some(mcf::Base64::Crypt.encode_string(&out) == hash)
}

/// Whether checking `entry` is costly enough to be done off the event loop.
pub fn is_slow(entry: &[u8]) -> bool {
    !(entry.starts_with(b"{PLAIN}") || entry.starts_with(b"{SHA}") || entry.starts_with(b"{SSHA}"))
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|c| *c == 0).map_or(b, |i| &b[..i])
}

/// `ngx_crypt_apr1()`: Apache's MD5 crypt (Poul-Henning Kamp's MD5 crypt with the
/// `$apr1$` magic); `rest` is the entry after the magic.
fn apr1(key: &[u8], rest: &[u8]) -> Vec<u8> {
    // The salt: at most 8 bytes, up to the first `$`.
    let salt_len = rest.iter().take(8).take_while(|c| **c != b'$').count();
    let salt = &rest[..salt_len];
    let mut md5 = Md5::new();
    md5.update(key);
    md5.update(b"$apr1$");
    md5.update(salt);
    let mut ctx1 = Md5::new();
    ctx1.update(key);
    ctx1.update(salt);
    ctx1.update(key);
    let mut fin: [u8; 16] = ctx1.finalize().into();
    let mut n = key.len() as isize;
    while n > 0 {
        md5.update(&fin[..(n.min(16)) as usize]);
        n -= 16;
    }
    fin = [0; 16];
    let mut i = key.len();
    while i != 0 {
        if i & 1 != 0 {
            md5.update(&fin[..1]);
        } else {
            md5.update(&key[..key.len().min(1)]);
        }
        i >>= 1;
    }
    fin = md5.finalize().into();
    for i in 0..1000 {
        let mut c = Md5::new();
        if i & 1 != 0 {
            c.update(key);
        } else {
            c.update(fin);
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(key);
        }
        if i & 1 != 0 {
            c.update(fin);
        } else {
            c.update(key);
        }
        fin = c.finalize().into();
    }
    let mut out = b"$apr1$".to_vec();
    out.extend_from_slice(salt);
    out.push(b'$');
    let f = |i: usize| u32::from(fin[i]);
    to64(&mut out, (f(0) << 16) | (f(6) << 8) | f(12), 4);
    to64(&mut out, (f(1) << 16) | (f(7) << 8) | f(13), 4);
    to64(&mut out, (f(2) << 16) | (f(8) << 8) | f(14), 4);
    to64(&mut out, (f(3) << 16) | (f(9) << 8) | f(15), 4);
    to64(&mut out, (f(4) << 16) | (f(10) << 8) | f(5), 4);
    to64(&mut out, f(11), 2);
    out
}

/// `ngx_crypt_to64()`.
fn to64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

/// `ngx_crypt_ssha()`: `{SSHA}` base64(SHA1(password salt) salt); the salt is what the
/// entry holds after its first 20 decoded bytes.
fn ssha(key: &[u8], rest: &[u8]) -> Option<Vec<u8>> {
    let decoded = decode_base64(rest)?;
    let salt = decoded.get(20..)?;
    let mut h = Sha1::new();
    h.update(key);
    h.update(salt);
    let mut out = h.finalize().to_vec();
    out.extend_from_slice(salt);
    let mut e = b"{SSHA}".to_vec();
    e.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(out)
            .as_bytes(),
    );
    Some(e)
}

/// `ngx_decode_base64()`: the standard alphabet; decoding stops at the first `=` (what
/// follows is ignored), padding is optional, any other byte outside the alphabet or a
/// length that leaves one dangling character is an error.
pub fn decode_base64(src: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let len = src.iter().position(|c| *c == b'=').unwrap_or(src.len());
    let src = &src[..len];
    if len % 4 == 1 {
        return None;
    }
    let mut vals = Vec::with_capacity(len);
    for &c in src {
        vals.push(val(c)?);
    }
    let mut out = Vec::with_capacity(len / 4 * 3 + 2);
    let mut chunks = vals.chunks_exact(4);
    for c in &mut chunks {
        let n = (c[0] << 18) | (c[1] << 12) | (c[2] << 6) | c[3];
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    match chunks.remainder() {
        [a, b] => out.push(((a << 2) | (b >> 4)) as u8),
        [a, b, c] => {
            out.push(((a << 2) | (b >> 4)) as u8);
            out.push(((b << 4) | (c >> 2)) as u8);
        }
        _ => {}
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Entries made with `openssl passwd` and Python's `crypt` (libxcrypt) for the
    // password "secret"; each was accepted by nginx 1.22.1 and "wrong" refused.
    const ENTRIES: &[&str] = &[
        "{PLAIN}secret",
        "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
        "{SSHA}+RFhsab2AfzZ0VfEdyknXtUT06RhYmNk",
        "$apr1$xyzSALT1$.eWsQnZemtc7siKtawOwr/",
        "$1$saltsalt$9xy1btjgzLYfb7hivXtC//",
        "$5$saltsaltsalt$TihBZCRsJxAxHgKub.mCOdu9X7QLi980jJxe7T2aZg7",
        "$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts.",
        "abNANd1rDfiNc",
        "$2b$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe",
        "$2y$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe",
        "$2a$05$BknmQTTZUKQSrbT6v1u/deRk9po/tVxZH6HQiTuJJhRztxIcjeNUe",
        "$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.",
        "$sha1$1000$abcdefgh$ji8ESnkwjcTjo4hThodnLYyi.3yG",
        "_J9..abcd/H6HLCcf7nw",
        "$7$CU..../....abcdefgh$XWs9HxtpA2.6U5CDBBbcW.h3o9pYlC.MIIb8JqMgZx6",
        "$gy$j9T$abcdefghijklmnop$mixfBgwqRYkgJa0E4eWmDF3HC/BbYXm8ztA717oxvqD",
        // 22-character salts, as `mkpasswd` makes them (from libxcrypt, not yet through nginx).
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0",
        "$gy$j9T$F5Jx5fExrKuPp53xLKQ..1$uE5FcoxTz78xZpMZkpTmj/0MogyeNUSLIjdCxpQjz.8",
    ];

    #[test]
    fn every_scheme_nginx_accepted() {
        for e in ENTRIES {
            assert!(matches(b"secret", e.as_bytes()), "{e} refused the password");
            assert!(
                !matches(b"wrong", e.as_bytes()),
                "{e} took a wrong password"
            );
        }
    }

    #[test]
    fn invalid_entries_never_match() {
        for e in ["", "$zz$nothing", "{SSHA}", "{SHA}", "$apr1$"] {
            assert!(!matches(b"", e.as_bytes()) || e == "{PLAIN}", "{e}");
            assert!(!matches(b"secret", e.as_bytes()), "{e}");
        }
    }

    #[test]
    fn base64_as_nginx_decodes() {
        assert_eq!(
            decode_base64(b"cGxhaW46c2VjcmV0").as_deref(),
            Some(&b"plain:secret"[..])
        );
        assert_eq!(decode_base64(b"eDp5").as_deref(), Some(&b"x:y"[..]));
        // Everything after the first `=` is ignored; padding is optional.
        assert_eq!(decode_base64(b"eA==garbage").as_deref(), Some(&b"x"[..]));
        assert_eq!(decode_base64(b"eA").as_deref(), Some(&b"x"[..]));
        assert_eq!(decode_base64(b"e"), None);
        assert_eq!(decode_base64(b"e*x="), None);
    }
}
