//! What a slot's filters cost per change (issue 17's filters, `src/cdc/`): the collection
//! pattern check with 100 patterns of each kind (cached verdict, and the first evaluation of
//! a name), and a row predicate on a parsed document and on raw bytes (parse included).
//!
//! cargo bench --bench cdc_filter

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use georep::cdc::{PatternSet, Predicate};

fn bench(c: &mut Criterion) {
    let mut include: Vec<String> = (0..100).map(|i| format!("orders-{i}")).collect();
    include.extend((0..100).map(|i| format!("tenant-{i}-*")));
    include.extend((0..100).map(|i| format!("*-region-{i}")));
    let set = PatternSet::compile(&include, &["tenant-99-test*".to_string()]).unwrap();
    set.matches("tenant-42-acme");
    c.bench_function("pattern_set_300_cached", |b| {
        b.iter(|| black_box(set.matches(black_box("tenant-42-acme"))))
    });
    let mut n = 0u64;
    c.bench_function("pattern_set_300_first_sight", |b| {
        b.iter(|| {
            n += 1;
            // a new name each time: past the cache's cap, every one is evaluated afresh
            black_box(set.matches(&format!("x-{n}-region-7")))
        })
    });

    let p = Predicate::parse("tenant == 'acme' and (n >= 10 or addr.country != 'de')").unwrap();
    let doc = serde_json::json!({"tenant": "acme", "n": 12, "addr": {"country": "fr"}, "items": [1, 2, 3]});
    c.bench_function("predicate_on_value", |b| {
        b.iter(|| black_box(p.matches(black_box(&doc))))
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    c.bench_function("predicate_on_bytes", |b| {
        b.iter(|| black_box(p.matches_bytes(black_box(&bytes))))
    });
    c.bench_function("predicate_parse", |b| {
        b.iter(|| {
            black_box(Predicate::parse(black_box(
                "tenant == 'acme' and (n >= 10 or addr.country != 'de')",
            )))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
