//! The merge algebra of multi-master collections (issue 16): what one merge of two replicas'
//! states costs for each CRDT kind, one operation applied, and the conflict check of a
//! write (version vectors compared, the LWW winner picked).
//!
//! cargo bench --bench crdt_merge

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use georep::clock::Timestamp;
use georep::merge::{
    Crdt, GCounter, LwwRegister, MvRegister, OrSet, PnCounter, Stamp, VersionVector, Versioned,
    resolve,
};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];

fn stamp(ms: u64, region: &str) -> Stamp {
    Stamp {
        hlc: Timestamp::new(ms, 0, 1),
        region: region.to_string(),
    }
}

/// One merge of `b` into a copy of `a` (the copy made outside the timing).
fn merge_bench<C: Crdt>(c: &mut Criterion, name: &str, a: &C, b: &C) {
    c.bench_function(name, |bench| {
        bench.iter_batched(
            || a.clone(),
            |mut x| {
                x.merge(black_box(b));
                x
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    // two replicas of three regions, each having seen some of the others' operations
    let (mut g1, mut g2) = (GCounter::default(), GCounter::default());
    let (mut p1, mut p2) = (PnCounter::default(), PnCounter::default());
    for (i, r) in REGIONS.iter().enumerate() {
        g1.increment(r, 10 + i as u64).unwrap();
        g2.increment(r, 20 - i as u64).unwrap();
        p1.increment(r, 5).unwrap();
        p2.decrement(r, 3).unwrap();
    }
    merge_bench(c, "merge_g_counter_3_regions", &g1, &g2);
    merge_bench(c, "merge_pn_counter_3_regions", &p1, &p2);
    c.bench_function("op_pn_counter_increment", |b| {
        let mut x = p1.clone();
        b.iter(|| x.increment(black_box("eu-west-1"), 1).unwrap())
    });

    let (mut l1, mut l2) = (LwwRegister::default(), LwwRegister::default());
    l1.set(stamp(100, REGIONS[0]), "a".to_string());
    l2.set(stamp(200, REGIONS[1]), "b".to_string());
    merge_bench(c, "merge_lww_register", &l1, &l2);

    // sets of 16 elements, 4 of them removed on one side and 4 added concurrently
    let mut s1 = OrSet::default();
    for e in 0..16u32 {
        s1.add(REGIONS[e as usize % 3], e);
    }
    let mut s2 = s1.clone();
    for e in 0..4u32 {
        s2.remove(&e);
        s1.add(REGIONS[1], 100 + e);
    }
    merge_bench(c, "merge_or_set_16_elements", &s1, &s2);
    c.bench_function("op_or_set_add", |b| {
        let mut x = s1.clone();
        b.iter(|| x.add(black_box(REGIONS[2]), black_box(7u32)))
    });

    let (mut m1, mut m2) = (MvRegister::default(), MvRegister::default());
    m1.set(REGIONS[0], 1u64);
    m2.set(REGIONS[1], 2u64);
    merge_bench(c, "merge_mv_register_concurrent", &m1, &m2);

    // the conflict check every replicated write goes through
    let version = |ms: u64, region: &str, seen: &[(usize, u64)]| {
        let mut vv = VersionVector::new();
        for (r, n) in seen {
            for _ in 0..*n {
                vv.bump(REGIONS[*r]);
            }
        }
        Versioned {
            stamp: stamp(ms, region),
            vv,
            value: (),
        }
    };
    let a = version(100, REGIONS[0], &[(0, 40), (1, 31), (2, 12)]);
    let b_ = version(101, REGIONS[1], &[(0, 39), (1, 32), (2, 12)]);
    c.bench_function("conflict_check_concurrent_3_regions", |b| {
        b.iter(|| black_box(resolve(black_box(&a), black_box(&b_))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
