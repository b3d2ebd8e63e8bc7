//! Webhook request signatures, so a receiver can tell georep's batches from anyone else's
//! and a replayed old batch from a new one. Each POST carries
//!
//! ```text
//! georep-signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>." ++ body)>
//! ```
//!
//! with the sink's `secret_file`. A receiver recomputes the MAC over the raw body, compares
//! in constant time, and refuses a `t` too far from its clock. `verify` does exactly that,
//! for receivers written in Rust and for the tests.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "georep-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("georep-signature: {0}")]
    Malformed(String),
    #[error("georep-signature: the MAC does not match the body (another secret, or altered)")]
    Mismatch,
    #[error("georep-signature: signed at {signed_ms}, {skew_ms} ms from now: too old or too new")]
    Stale { signed_ms: u64, skew_ms: u64 },
}

fn mac(secret: &[u8], t_ms: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(t_ms.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value for `body` sent at `t_ms`.
pub fn sign(secret: &[u8], t_ms: u64, body: &[u8]) -> String {
    let tag = mac(secret, t_ms, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t_ms},v1={hex}")
}

/// Checks a header value against the body, `now_ms` and how far apart they may be.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_ms: u64,
    tolerance_ms: u64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = Some(x),
            Some(("v1", x)) => v1 = Some(x),
            // later schemes may be added beside v1
            Some(_) => {}
            None => {
                return Err(SignatureError::Malformed(format!(
                    "{part:?} is not name=value"
                )));
            }
        }
    }
    let t_ms: u64 = t
        .ok_or_else(|| SignatureError::Malformed("no t=".into()))?
        .parse()
        .map_err(|_| SignatureError::Malformed("t is not a number of milliseconds".into()))?;
    let hex = v1.ok_or_else(|| SignatureError::Malformed("no v1=".into()))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed("v1 is not 64 hex digits".into()));
    }
    let tag: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex"))
        .collect();
    mac(secret, t_ms, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)?;
    let skew_ms = now_ms.abs_diff(t_ms);
    if skew_ms > tolerance_ms {
        return Err(SignatureError::Stale {
            signed_ms: t_ms,
            skew_ms,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_body_verifies_and_nothing_else_does() {
        let h = sign(SECRET, 1_000, b"{\"a\":1}\n");
        assert!(h.starts_with("t=1000,v1="), "{h}");
        assert_eq!(verify(SECRET, &h, b"{\"a\":1}\n", 1_500, 1_000), Ok(()));
        assert_eq!(
            verify(SECRET, &h, b"{\"a\":2}\n", 1_500, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"another secret of enough bytes!!",
                &h,
                b"{\"a\":1}\n",
                1_500,
                1_000
            ),
            Err(SignatureError::Mismatch)
        );
        // the time is signed too: moving it breaks the MAC
        let moved = h.replace("t=1000", "t=1400");
        assert_eq!(
            verify(SECRET, &moved, b"{\"a\":1}\n", 1_500, 1_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_refused() {
        let h = sign(SECRET, 1_000, b"x");
        assert_eq!(
            verify(SECRET, &h, b"x", 400_000, 300_000),
            Err(SignatureError::Stale {
                signed_ms: 1_000,
                skew_ms: 399_000
            })
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        for (h, needle) in [
            ("v1=00", "no t="),
            ("t=x,v1=00", "t is not"),
            ("t=1", "no v1="),
            ("t=1,v1=zz", "64 hex"),
            ("t1,v1=00", "not name=value"),
        ] {
            let e = verify(SECRET, h, b"", 1, 10).unwrap_err();
            assert!(e.to_string().contains(needle), "{h}: {e}");
        }
    }
}
