//! `ssl_ciphers` (an OpenSSL cipher list) mapped onto the TLSv1.2 cipher suites rustls
//! offers. OpenSSL's list language is kept as far as it concerns those suites: names,
//! the aliases that select them (`HIGH`, `ECDHE`, `AESGCM`, `CHACHA20`, `aRSA`, ...),
//! `A+B` (both), `!X` and `-X` (removed), `+X` (moved last: order only) and `@...`
//! (ignored). A list that matches nothing at all is OpenSSL's "no cipher match" error;
//! a list that selects ciphers rustls lacks (CBC, DHE, static RSA, ...) loses those,
//! which `-t` reports. TLSv1.3 suites are not chosen by `ssl_ciphers` (as in OpenSSL).

/// The TLSv1.2 suites rustls offers, by OpenSSL name, in rustls's preference order.
pub const RUSTLS_TLS12: [&str; 6] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// Aliases that select some of [`RUSTLS_TLS12`] (by index); all of them are also
/// "known" to OpenSSL.
fn alias(word: &str) -> Option<&'static [usize]> {
    const ALL: &[usize] = &[0, 1, 2, 3, 4, 5];
    const ECDSA: &[usize] = &[0, 1, 2];
    const RSA_AUTH: &[usize] = &[3, 4, 5];
    const AES: &[usize] = &[0, 1, 3, 4];
    const AES256: &[usize] = &[0, 3];
    const AES128: &[usize] = &[1, 4];
    const CHACHA: &[usize] = &[2, 5];
    Some(match word {
        "ALL" | "DEFAULT" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "AEAD"
        | "TLSv1.2" | "FIPS" => ALL,
        "aECDSA" | "ECDSA" => ECDSA,
        "aRSA" => RSA_AUTH,
        "AESGCM" | "AES" => AES,
        "AES256" | "SHA384" => AES256,
        "AES128" => AES128,
        "SHA256" => &[1, 2, 4, 5],
        "CHACHA20" => CHACHA,
        _ => return None,
    })
}

/// OpenSSL words that select only ciphers rustls does not have.
const NOT_IN_RUSTLS: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "MEDIUM",
    "LOW",
    "EXPORT",
    "EXP",
    "MD5",
    "RC4",
    "3DES",
    "DES",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "DSS",
    "aDSS",
    "DH",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "ADH",
    "AECDH",
    "kRSA",
    "RSA",
    "PSK",
    "kPSK",
    "SRP",
    "kSRP",
    "SHA",
    "SHA1",
    "GOST94",
    "GOST89MAC",
    "kGOST",
    "aGOST",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "SUITEB128",
    "SUITEB192",
    "CBC",
];

/// The result of reading an `ssl_ciphers` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ciphers {
    /// Nothing in the list is a cipher OpenSSL knows: `SSL_CTX_set_cipher_list()` fails.
    NoMatch,
    /// The rustls suites chosen, in order, and whether the list also chose ciphers that
    /// rustls does not offer (left out).
    Suites {
        /// OpenSSL names out of [`RUSTLS_TLS12`].
        chosen: Vec<&'static str>,
        /// One cipher or word of the list that rustls cannot honour, if any.
        lost: Option<String>,
    },
}

/// One word of a cipher list: the rustls suites it selects and whether it names
/// something OpenSSL knows but rustls lacks. `None`: OpenSSL does not know it.
fn word(w: &str) -> Option<(Vec<usize>, bool)> {
    let mut set: Option<Vec<usize>> = None;
    let mut other = false;
    for part in w.split('+') {
        let (sel, unknown_here) = if let Some(i) = RUSTLS_TLS12.iter().position(|n| *n == part) {
            (vec![i], false)
        } else if let Some(a) = alias(part) {
            (a.to_vec(), false)
        } else if NOT_IN_RUSTLS.contains(&part) || looks_like_cipher(part) {
            (Vec::new(), true)
        } else {
            return None;
        };
        other |= unknown_here;
        set = Some(match set {
            None => sel,
            Some(prev) => prev.into_iter().filter(|i| sel.contains(i)).collect(),
        });
    }
    Some((set.unwrap_or_default(), other))
}

/// An OpenSSL cipher name rustls lacks (`AES128-SHA`, `DHE-RSA-AES256-GCM-SHA384`, ...).
fn looks_like_cipher(w: &str) -> bool {
    let prefixes = [
        "AES", "DES", "RC4", "IDEA", "SEED", "CAMELLIA", "NULL", "PSK", "SRP", "DHE-", "EDH-",
        "ADH-", "AECDH-", "ECDHE-", "ECDH-", "DH-", "RSA-", "EXP-", "ARIA",
    ];
    w.contains('-')
        && w.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && prefixes.iter().any(|p| w.starts_with(p))
}

/// Reads an `ssl_ciphers` value.
pub fn parse(list: &str) -> Ciphers {
    let mut chosen: Vec<usize> = Vec::new();
    let mut removed: Vec<usize> = Vec::new();
    let mut matched = false;
    let mut lost = None;
    for w in list.split([':', ',', ' ', ';']).filter(|w| !w.is_empty()) {
        if w.starts_with('@') {
            continue;
        }
        let (op, name) = match w.as_bytes()[0] {
            b'!' | b'-' | b'+' => (w.as_bytes()[0], &w[1..]),
            _ => (b' ', w),
        };
        let Some((sel, other)) = word(name) else {
            continue;
        };
        matched = true;
        match op {
            b'!' | b'-' => removed.extend(sel.iter().copied()),
            b'+' => {}
            _ => {
                if other && lost.is_none() {
                    lost = Some(name.to_string());
                }
                for i in sel {
                    if !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    if !matched {
        return Ciphers::NoMatch;
    }
    Ciphers::Suites {
        chosen: chosen
            .into_iter()
            .filter(|i| !removed.contains(i))
            .map(|i| RUSTLS_TLS12[i])
            .collect(),
        lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(list: &str) -> Vec<&'static str> {
        match parse(list) {
            Ciphers::Suites { chosen, .. } => chosen,
            Ciphers::NoMatch => panic!("{list}: no match"),
        }
    }

    #[test]
    fn openssl_lists_onto_rustls_suites() {
        // nginx's default.
        assert_eq!(chosen("HIGH:!aNULL:!MD5"), RUSTLS_TLS12.to_vec());
        assert_eq!(
            chosen("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"),
            [
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384"
            ]
        );
        assert_eq!(
            chosen("ECDHE+AESGCM:!aRSA"),
            [
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256"
            ]
        );
        assert_eq!(
            chosen("HIGH:-CHACHA20:@STRENGTH"),
            [
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES128-GCM-SHA256"
            ]
        );
        assert_eq!(parse("FOO"), Ciphers::NoMatch);
        assert_eq!(
            parse("AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:FOO"),
            Ciphers::Suites {
                chosen: vec!["ECDHE-RSA-AES128-GCM-SHA256"],
                lost: Some("AES128-SHA".into())
            }
        );
        assert_eq!(
            parse("AES128-SHA"),
            Ciphers::Suites {
                chosen: vec![],
                lost: Some("AES128-SHA".into())
            }
        );
    }
}
