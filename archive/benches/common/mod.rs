//! Test data shared by the archive benchmarks: 16 MiB of order documents whose ids, amounts
//! and free text vary (drawn from a `vocabulary`-word list), so they compress like real logs.

pub fn order_documents(vocabulary: usize) -> Vec<u8> {
    order_documents_seeded(vocabulary, 0x2545_F491_4F6C_DD1D)
}

/// As [`order_documents`], from another seed: different documents (no two files dedupe).
pub fn order_documents_seeded(vocabulary: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "order",
        "shipped",
        "customer",
        "priority",
        "warehouse",
        "express",
        "return",
        "invoice",
        "paid",
        "pending",
        "gift",
        "fragile",
        "delayed",
        "parcel",
        "refund",
        "carrier",
    ];
    let vocabulary = vocabulary.clamp(1, WORDS.len());
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut v = Vec::with_capacity(16 << 20);
    while v.len() < 16 << 20 {
        let note: Vec<&str> = (0..40)
            .map(|_| WORDS[(next() % vocabulary as u64) as usize])
            .collect();
        v.extend_from_slice(
            format!(
                "{{\"key\":\"o-{:016x}\",\"customer\":\"c-{:08x}\",\"qty\":{},\"cents\":{},\"note\":\"{}\"}}\n",
                next(),
                next() as u32,
                next() % 9,
                next() % 100_000,
                note.join(" ")
            )
            .as_bytes(),
        );
    }
    v
}
