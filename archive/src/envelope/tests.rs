use proptest::prelude::*;

use super::*;

fn ring() -> KeyRing {
    KeyRing::single("k1", [7u8; 32])
}

/// Realistic, compressible data: JSON-ish log records.
fn sample(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut i = 0u64;
    while v.len() < n {
        v.extend_from_slice(
            format!(
                "{{\"i\":{i},\"key\":\"order-{:x}\",\"qty\":{}}}\n",
                i * 2654435761 % 1_000_003,
                i % 7
            )
            .as_bytes(),
        );
        i += 1;
    }
    v.truncate(n);
    v
}

#[test]
fn round_trips_across_sizes_and_chunk_boundaries() {
    for n in [0usize, 1, 100, 4095, 4096, 4097, 50_000] {
        let plain = sample(n);
        let sealed = seal_with_chunk(&plain, &ring(), 3, 4096).unwrap();
        assert_eq!(open(&sealed, &ring()).unwrap(), plain, "size {n}");
        let info = inspect(&sealed).unwrap();
        assert_eq!((info.key_id.as_str(), info.plain_len), ("k1", n as u64));
    }
    let big = sample(3 << 20);
    let sealed = seal(&big, &ring(), DEFAULT_LEVEL).unwrap();
    assert!(
        sealed.len() < big.len() / 3,
        "compressed: {} of {}",
        sealed.len(),
        big.len()
    );
    assert_eq!(open(&sealed, &ring()).unwrap(), big);
}

#[test]
fn every_object_gets_its_own_data_key_and_nonces() {
    let plain = sample(10_000);
    let a = seal(&plain, &ring(), 3).unwrap();
    let b = seal(&plain, &ring(), 3).unwrap();
    assert_ne!(a, b, "same plaintext, different ciphertext");
}

/// Chunk layout of a sealed object: (offset, total length) of each chunk.
fn chunks(sealed: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = inspect(sealed).unwrap().header_len;
    while pos < sealed.len() {
        let len = u32::from_le_bytes(sealed[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, 4 + len));
        pos += 4 + len;
    }
    out
}

#[test]
fn truncation_swapping_splicing_and_appending_fail() {
    let plain = sample(20_000);
    let sealed = seal_with_chunk(&plain, &ring(), 1, 1024).unwrap();
    let cs = chunks(&sealed);
    assert!(cs.len() >= 3, "{} chunks", cs.len());

    // cut at a chunk boundary: every chunk present verifies, but the final one is missing
    let cut = &sealed[..cs[1].0];
    assert_eq!(
        open(cut, &ring()),
        Err(EnvelopeError::MissingFinalChunk { chunks: 1 })
    );
    // cut inside a chunk
    assert!(matches!(
        open(&sealed[..sealed.len() - 5], &ring()),
        Err(EnvelopeError::Truncated { .. })
    ));
    // swap chunks 0 and 1 (same length: both are full chunks)
    let mut swapped = sealed[..cs[0].0].to_vec();
    swapped.extend_from_slice(&sealed[cs[1].0..cs[1].0 + cs[1].1]);
    swapped.extend_from_slice(&sealed[cs[0].0..cs[0].0 + cs[0].1]);
    swapped.extend_from_slice(&sealed[cs[2].0..]);
    assert_eq!(
        open(&swapped, &ring()),
        Err(EnvelopeError::Chunk {
            index: 0,
            offset: cs[0].0 as u64
        })
    );
    // a chunk from another object sealed under the same key
    let other = seal_with_chunk(&plain, &ring(), 1, 1024).unwrap();
    let oc = chunks(&other);
    let mut spliced = sealed[..cs[1].0].to_vec();
    spliced.extend_from_slice(&other[oc[1].0..oc[1].0 + oc[1].1]);
    spliced.extend_from_slice(&sealed[cs[2].0..]);
    assert!(matches!(
        open(&spliced, &ring()),
        Err(EnvelopeError::Chunk { index: 1, .. })
    ));
    // a valid chunk appended after the final one
    let mut appended = sealed.clone();
    appended.extend_from_slice(&sealed[cs[1].0..cs[1].0 + cs[1].1]);
    assert_eq!(
        open(&appended, &ring()),
        Err(EnvelopeError::TrailingData {
            offset: sealed.len() as u64,
            bytes: cs[1].1 as u64
        })
    );
}

#[test]
fn wrong_or_missing_keys_fail_and_rotation_keeps_old_objects_readable() {
    let plain = sample(5000);
    let sealed = seal(&plain, &ring(), 3).unwrap();
    let other = KeyRing::single("k1", [8u8; 32]);
    assert_eq!(
        open(&sealed, &other),
        Err(EnvelopeError::WrongKey {
            key_id: "k1".into()
        })
    );
    let elsewhere = KeyRing::single("k9", [7u8; 32]);
    assert!(matches!(
        open(&sealed, &elsewhere),
        Err(EnvelopeError::UnknownKey { .. })
    ));

    let mut rotated = ring();
    rotated.rotate("k2", [9u8; 32]);
    assert_eq!(
        open(&sealed, &rotated).unwrap(),
        plain,
        "old object, old key still in the ring"
    );
    let fresh = seal(&plain, &rotated, 3).unwrap();
    assert_eq!(inspect(&fresh).unwrap().key_id, "k2");
    assert!(
        open(&fresh, &ring()).is_err(),
        "new object needs the new key"
    );
    assert_eq!(
        open(b"PK\x03\x04 not ours", &ring()),
        Err(EnvelopeError::NotSealed)
    );
    let err = open(&sealed, &other).unwrap_err().to_string();
    assert!(
        !err.contains("0808") && !err.contains("[8"),
        "no key material in errors: {err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any single flipped bit anywhere in a sealed object is detected.
    #[test]
    fn any_flipped_bit_is_detected(pos_frac in 0.0f64..1.0, bit in 0u8..8) {
        let plain = sample(6000);
        let sealed = seal_with_chunk(&plain, &ring(), 3, 512).unwrap();
        let pos = ((sealed.len() - 1) as f64 * pos_frac) as usize;
        let mut bad = sealed.clone();
        bad[pos] ^= 1 << bit;
        prop_assert!(open(&bad, &ring()).is_err(), "flip at byte {} bit {} went unnoticed", pos, bit);
    }
}
