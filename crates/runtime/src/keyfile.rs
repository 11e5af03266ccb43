//! Encrypted private keys (`ssl_password_file`, `proxy_ssl_password_file`), decrypted
//! the way `PEM_read_bio_PrivateKey()` with nginx's `ngx_ssl_password_callback()` does:
//! each passphrase of the file in turn, the first that decrypts wins.
//!
//! Two encodings, the ones `openssl` writes:
//! - PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2 or scrypt with AES-CBC or
//!   DES-EDE3-CBC; `openssl pkcs8 -topk8 -v2 aes-256-cbc`, `openssl genpkey -aes256`),
//!   decrypted by the `pkcs8` crate;
//! - OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED` and `DEK-Info: ALG,IV`
//!   on an `RSA PRIVATE KEY` or `EC PRIVATE KEY`; `openssl rsa -aes256 -traditional`,
//!   `openssl ec -aes256`): the key is `EVP_BytesToKey(MD5, salt = IV[..8], count 1)`,
//!   the cipher AES-128/192/256-CBC, DES-EDE3-CBC or DES-CBC with PKCS#7 padding.
//!
//! Errors are OpenSSL 3's strings as nginx 1.22.1 prints them on Debian 12. A passphrase
//! longer than OpenSSL's buffer (`PEM_BUFSIZE`, 1024 bytes) is cut to it, with nginx's
//! `[error] password is truncated to 1024 bytes`, each time it is tried.

use base64::Engine as _;
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use md5::Digest as _;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// OpenSSL's `PEM_BUFSIZE`: the room `ngx_ssl_password_callback()` is given.
const PASSWORD_MAX: usize = 1024;

/// Why an encrypted key could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// Encrypted, and no password file was given: OpenSSL asks the terminal, which
    /// a server does not have.
    NoPassword { pkcs8: bool },
    /// No passphrase of the file decrypts it; `last_empty`: the last one tried was empty.
    BadDecrypt { pkcs8: bool, last_empty: bool },
    /// An encryption sluice does not know (`DEK-Info` naming another cipher, a
    /// PKCS#8 scheme the `pkcs8` crate lacks).
    Unsupported(String),
}

impl KeyError {
    /// The text after `PEM_read_bio_PrivateKey() failed `, as nginx prints it.
    pub(crate) fn openssl_text(&self) -> String {
        match self {
            KeyError::NoPassword { pkcs8: true } => "(SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:1C80009F:Provider routines::unable to get passphrase error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)".into(),
            KeyError::NoPassword { pkcs8: false } => "(SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)".into(),
            KeyError::BadDecrypt { pkcs8: true, last_empty } => {
                let why = if *last_empty { "empty password" } else { "maybe wrong password" };
                let one = format!("error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:{why}");
                format!("(SSL: {one} {one})")
            }
            KeyError::BadDecrypt { pkcs8: false, .. } => "(SSL: error:1C800064:Provider routines::bad decrypt error:04800065:PEM routines::bad decrypt)".into(),
            KeyError::Unsupported(what) => format!("({what}) (sluice: tls-key)"),
        }
    }
}

/// One PEM block: its label, headers and decoded body.
struct Block<'a> {
    label: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    der: Vec<u8>,
}

/// The first private-key block of a PEM file (`PRIVATE KEY`, `RSA PRIVATE KEY`,
/// `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`), if its body decodes.
fn first_key_block(text: &[u8]) -> Option<Block<'_>> {
    let mut lines = text
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .map(|l| std::str::from_utf8(l).unwrap_or(""));
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim_end()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if !matches!(
            label,
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY"
        ) {
            continue;
        }
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut in_headers = true;
        for l in lines.by_ref() {
            let l = l.trim_end();
            if l == end {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(body.as_bytes())
                    .ok()?;
                return Some(Block {
                    label,
                    headers,
                    der,
                });
            }
            if in_headers {
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim(), v.trim()));
                    continue;
                }
                in_headers = false;
                if l.is_empty() {
                    continue;
                }
            }
            body.push_str(l.trim());
        }
        return None;
    }
    None
}

/// The key of a PEM file when it is encrypted: `None` when it is not (the caller reads
/// it as a plain key), else the decrypted key or why not. `passwords`: the password
/// file's lines, `None` without `ssl_password_file`.
/// `logged` receives nginx's `[error]` lines.
pub(crate) fn decrypt(
    text: &[u8],
    passwords: Option<&[Vec<u8>]>,
    logged: &mut Vec<String>,
) -> Option<Result<PrivateKeyDer<'static>, KeyError>> {
    let block = first_key_block(text)?;
    if block.label == "ENCRYPTED PRIVATE KEY" {
        return Some(pkcs8(&block.der, passwords, logged));
    }
    let encrypted = block
        .headers
        .iter()
        .any(|(k, v)| *k == "Proc-Type" && v.ends_with("ENCRYPTED"));
    if !encrypted {
        return None;
    }
    Some(legacy(&block, passwords, logged))
}

/// The passphrase as `ngx_ssl_password_callback()` hands it to OpenSSL.
fn callback<'p>(pw: &'p [u8], logged: &mut Vec<String>) -> &'p [u8] {
    if pw.len() > PASSWORD_MAX {
        logged.push(format!("password is truncated to {PASSWORD_MAX} bytes"));
        &pw[..PASSWORD_MAX]
    } else {
        pw
    }
}

fn pkcs8(
    der: &[u8],
    passwords: Option<&[Vec<u8>]>,
    logged: &mut Vec<String>,
) -> Result<PrivateKeyDer<'static>, KeyError> {
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::Unsupported(format!("encrypted PKCS#8 key: {e}")))?;
    let Some(passwords) = passwords else {
        return Err(KeyError::NoPassword { pkcs8: true });
    };
    for pw in passwords {
        match info.decrypt(callback(pw, logged)) {
            Ok(doc) => {
                return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    doc.as_bytes().to_vec(),
                )))
            }
            // A wrong passphrase fails the padding check (which pkcs5 0.7 reports as
            // `EncryptFailed`), or (rarely) passes it and leaves no PrivateKeyInfo;
            // any other PBES error is a scheme sluice lacks (PBES1, the PKCS#12 PBEs
            // of `openssl pkcs8 -v1`, fail earlier, when the structure is read).
            Err(pkcs8::Error::EncryptedPrivateKey(e))
                if !matches!(e, pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) =>
            {
                return Err(KeyError::Unsupported(format!("encrypted PKCS#8 key: {e}")))
            }
            Err(_) => {}
        }
    }
    Err(KeyError::BadDecrypt {
        pkcs8: true,
        last_empty: passwords.last().is_some_and(Vec::is_empty),
    })
}

/// OpenSSL's `PEM_do_header()`.
fn legacy(
    block: &Block<'_>,
    passwords: Option<&[Vec<u8>]>,
    logged: &mut Vec<String>,
) -> Result<PrivateKeyDer<'static>, KeyError> {
    let dek = block
        .headers
        .iter()
        .find(|(k, _)| *k == "DEK-Info")
        .map(|(_, v)| *v)
        .ok_or_else(|| KeyError::Unsupported("no DEK-Info header".into()))?;
    let (alg, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| KeyError::Unsupported(format!("DEK-Info \"{dek}\"")))?;
    let (key_len, iv_len) = match alg {
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        "DES-EDE3-CBC" => (24, 8),
        "DES-CBC" => (8, 8),
        other => return Err(KeyError::Unsupported(format!("cipher {other}"))),
    };
    let iv = hex(iv_hex.trim())
        .filter(|iv| iv.len() == iv_len)
        .ok_or_else(|| KeyError::Unsupported(format!("DEK-Info \"{dek}\"")))?;
    let Some(passwords) = passwords else {
        return Err(KeyError::NoPassword { pkcs8: false });
    };
    for pw in passwords {
        let key = bytes_to_key(callback(pw, logged), &iv[..8], key_len);
        let mut buf = block.der.clone();
        let plain = match alg {
            "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, &mut buf),
            "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, &mut buf),
            "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, &mut buf),
            "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, &iv, &mut buf),
            _ => cbc_decrypt::<des::Des>(&key, &iv, &mut buf),
        };
        // A wrong passphrase fails the padding check, almost always; when it passes by
        // chance the result is no DER SEQUENCE, and counts as a wrong one too.
        let Some(plain) = plain.filter(|p| p.first() == Some(&0x30)) else {
            continue;
        };
        let der = plain.to_vec();
        return Ok(match block.label {
            "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
        });
    }
    Err(KeyError::BadDecrypt {
        pkcs8: false,
        last_empty: passwords.last().is_some_and(Vec::is_empty),
    })
}

fn cbc_decrypt<'b, C>(key: &[u8], iv: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]>
where
    C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
{
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    d.decrypt_padded_mut::<Pkcs7>(buf).ok()
}

/// `EVP_BytesToKey()` with MD5 and one iteration, as `PEM_do_header()` calls it.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut h = md5::Md5::new();
        h.update(&prev);
        h.update(password);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test-only keys of the conformance fixtures, all with the passphrase
    /// `test-only-passphrase`.
    fn fixture(case: &str, file: &str) -> Vec<u8> {
        let p = format!(
            "{}/../../tests/conf-invalid/{case}.files/certs/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn every_encoding_decrypts_with_the_right_passphrase_only() {
        let provider = rustls::crypto::ring::default_provider();
        let good = [b"nope".to_vec(), b"test-only-passphrase".to_vec()];
        let bad = [b"test-only-passphrase-".to_vec()];
        let case = "ssl-password-file-legacy-second-line";
        for (file, pkcs8) in [
            ("rsa-legacy-aes.key", false),
            ("rsa-legacy-des3.key", false),
            ("ec-legacy-aes.key", false),
            ("ec-pkcs8.key", true),
        ] {
            let text = fixture(case, file);
            let key = decrypt(&text, Some(&good), &mut Vec::new())
                .unwrap_or_else(|| panic!("{file}: not seen as encrypted"))
                .unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert!(
                provider.key_provider.load_private_key(key).is_ok(),
                "{file}"
            );
            assert_eq!(
                decrypt(&text, Some(&bad), &mut Vec::new()).map(|r| r.err()),
                Some(Some(KeyError::BadDecrypt {
                    pkcs8,
                    last_empty: false
                })),
                "{file}"
            );
            assert_eq!(
                decrypt(&text, None, &mut Vec::new()).map(|r| r.err()),
                Some(Some(KeyError::NoPassword { pkcs8 })),
                "{file}"
            );
            assert_eq!(
                decrypt(&text, Some(&[Vec::new()]), &mut Vec::new()).map(|r| r.err()),
                Some(Some(KeyError::BadDecrypt {
                    pkcs8,
                    last_empty: true
                })),
                "{file}"
            );
        }
        // A plain key is left to the caller.
        let plain =
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert!(decrypt(plain, Some(&good), &mut Vec::new()).is_none());
    }

    #[test]
    fn evp_bytes_to_key_as_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -pass pass:secret -S 0001020304050607` (no
        // `-iter`/`-pbkdf2`: `EVP_BytesToKey()`)
        let key = bytes_to_key(b"secret", &[0, 1, 2, 3, 4, 5, 6, 7], 32);
        assert_eq!(
            key.iter().map(|b| format!("{b:02X}")).collect::<String>(),
            "035FB8145B73CF111570DC936112BE9C375A5D3D8B915BC213BDBEF9DBFB7851"
        );
    }
}
