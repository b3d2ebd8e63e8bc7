//! HS256 JSON Web Tokens (RFC 7519), as much of them as georep needs: a `role` claim, `exp`
//! (required), `nbf` and `sub` (optional). Only `alg: HS256` is accepted (never `none`, never
//! an algorithm the token itself picks), and the signature is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Role;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT (three base64url parts separated by dots)")]
    Malformed,
    #[error("JWT header: {0}")]
    Header(String),
    #[error("the JWT signature does not verify")]
    BadSignature,
    #[error("JWT claims: {0}")]
    Claims(String),
    #[error("the JWT expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("the JWT is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: u64, now: u64 },
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub role: Role,
    pub sub: Option<String>,
    pub exp: u64,
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct RawClaims {
    role: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Verifies `token` with `key` at Unix time `now` (seconds).
pub fn verify(token: &str, key: &[u8], now: u64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| JwtError::Malformed);
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|e| JwtError::Header(e.to_string()))?;
    if header.alg != "HS256" {
        return Err(JwtError::Header(format!(
            "alg {:?} is not accepted (HS256 only)",
            header.alg
        )));
    }
    let signature = decode(s)?;
    let mut m = mac(key);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;
    // only a signed payload is parsed further
    let raw: RawClaims =
        serde_json::from_slice(&decode(p)?).map_err(|e| JwtError::Claims(e.to_string()))?;
    let role = raw.role.parse().map_err(JwtError::Claims)?;
    if now >= raw.exp {
        return Err(JwtError::Expired { exp: raw.exp, now });
    }
    if let Some(nbf) = raw.nbf
        && now < nbf
    {
        return Err(JwtError::NotYetValid { nbf, now });
    }
    Ok(Claims {
        role,
        sub: raw.sub,
        exp: raw.exp,
    })
}

/// Signs an HS256 token (`georep auth jwt`, tests).
pub fn sign(key: &[u8], role: Role, sub: Option<&str>, exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = RawClaims {
        role: role.as_str().to_string(),
        exp,
        nbf: None,
        sub: sub.map(str::to_string),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
    let mut m = mac(key);
    m.update(header.as_bytes());
    m.update(b".");
    m.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{header}.{payload}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_and_refuses_tampering_expiry_and_other_algorithms() {
        let t = sign(KEY, Role::Writer, Some("ci"), 2_000);
        let c = verify(&t, KEY, 1_000).unwrap();
        assert_eq!(
            (c.role, c.sub.as_deref(), c.exp),
            (Role::Writer, Some("ci"), 2_000)
        );
        assert_eq!(
            verify(&t, KEY, 2_000).unwrap_err(),
            JwtError::Expired {
                exp: 2_000,
                now: 2_000
            }
        );
        assert_eq!(
            verify(&t, b"another key, just as long, 32 b.", 1_000).unwrap_err(),
            JwtError::BadSignature
        );
        // a payload swapped for one claiming admin keeps the old signature: refused
        let admin = sign(KEY, Role::Admin, None, 2_000);
        let mut forged: Vec<&str> = t.split('.').collect();
        forged[1] = admin.split('.').nth(1).unwrap();
        assert_eq!(
            verify(&forged.join("."), KEY, 1_000).unwrap_err(),
            JwtError::BadSignature
        );
        // alg "none" with no signature
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert!(matches!(
            verify(&none, KEY, 1_000),
            Err(JwtError::Header(_))
        ));
        assert_eq!(verify("abc", KEY, 0).unwrap_err(), JwtError::Malformed);
        assert_eq!(verify("a.b.c.d", KEY, 0).unwrap_err(), JwtError::Malformed);
    }

    #[test]
    fn an_unknown_role_is_a_claims_error() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"role":"root","exp":99}"#);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let mut m = mac(KEY);
        m.update(format!("{header}.{claims}").as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        let e = verify(&format!("{header}.{claims}.{sig}"), KEY, 1).unwrap_err();
        assert!(
            matches!(e, JwtError::Claims(ref m) if m.contains("root")),
            "{e}"
        );
    }
}
