//! The small JSON head most messages start with: `u32 length | JSON | rest`.

use serde::{Deserialize, Serialize};

use super::RpcError;

pub fn put_json_head(out: &mut Vec<u8>, head: &impl Serialize) {
    let json = serde_json::to_vec(head).expect("message heads serialize");
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
}

/// Splits a message into its head (as `T`) and the bytes after it.
pub fn json_head<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    what: &'static str,
) -> Result<(T, &'a [u8]), RpcError> {
    if body.len() < 4 {
        return Err(RpcError::malformed(what, "missing head length"));
    }
    let n = u32::from_le_bytes(body[..4].try_into().expect("4 bytes")) as usize;
    let head = body
        .get(4..4 + n)
        .ok_or_else(|| RpcError::malformed(what, "head longer than the message"))?;
    let v = serde_json::from_slice(head).map_err(|e| RpcError::malformed(what, e))?;
    Ok((v, &body[4 + n..]))
}

/// A message that is all JSON.
pub fn json<'a, T: Deserialize<'a>>(body: &'a [u8], what: &'static str) -> Result<T, RpcError> {
    serde_json::from_slice(body).map_err(|e| RpcError::malformed(what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_short_ones_are_named() {
        let mut out = Vec::new();
        put_json_head(&mut out, &("a", 7u32));
        out.extend_from_slice(b"rest");
        let ((s, n), rest): ((String, u32), _) = json_head(&out, "pair").unwrap();
        assert_eq!((s.as_str(), n, rest), ("a", 7, &b"rest"[..]));
        let e = json_head::<(String, u32)>(&out[..6], "pair").unwrap_err();
        assert!(e.to_string().contains("malformed pair"), "{e}");
        assert!(json_head::<u32>(&[1], "x").is_err());
    }
}
