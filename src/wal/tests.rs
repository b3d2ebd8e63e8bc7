use std::fs;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::clock::Timestamp;

fn entry(index: u64, size: usize) -> Entry {
    Entry {
        index,
        term: 1 + index / 100,
        hlc: Timestamp::new(1_700_000_000_000 + index, 0, 1),
        origin: Arc::from("us-east-1"),
        payload: Bytes::from(vec![(index % 251) as u8; size]),
    }
}

fn opts(dir: &Path, segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::new(dir, 7)
    }
}

fn open(dir: &Path, segment_bytes: u64) -> Wal {
    Wal::open(opts(dir, segment_bytes), None).unwrap().0
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn appends_read_back_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(wal.last_index(), None);
    for i in 1..=50 {
        assert_eq!(wal.append_blocking(vec![entry(i, 100)]).unwrap(), i);
    }
    assert_eq!(wal.durable_index(), 50);
    assert_eq!(wal.read(17).unwrap(), entry(17, 100));
    drop(wal);
    let (wal, report) = Wal::open(opts(dir.path(), 1 << 20), None).unwrap();
    assert_eq!((report.first_index, report.last_index), (Some(1), Some(50)));
    assert!(report.torn_tail.is_none());
    assert_eq!(
        wal.read_range(1, 50).unwrap(),
        (1..=50).map(|i| entry(i, 100)).collect::<Vec<_>>()
    );
    assert_eq!(wal.append_blocking(vec![entry(51, 3)]).unwrap(), 51);
}

#[test]
fn rejects_appends_that_do_not_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 1 << 20);
    wal.append_blocking(vec![entry(10, 1), entry(11, 1)])
        .unwrap();
    assert_eq!(
        wal.append_blocking(vec![entry(13, 1)]),
        Err(WalError::NonContiguous {
            expected: 12,
            got: 13
        })
    );
    assert!(
        wal.append_blocking(vec![entry(12, 1), entry(14, 1)])
            .is_err()
    );
    assert_eq!(wal.append_blocking(vec![entry(12, 1)]).unwrap(), 12);
    assert!(matches!(wal.read(9), Err(WalError::OutOfRange { .. })));
}

#[test]
fn concurrent_appenders_share_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(open(dir.path(), 256 << 10));
    let next = Arc::new(std::sync::Mutex::new(1u64));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (wal, next) = (wal.clone(), next.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    // index assignment and submission under one lock, as a log group does
                    let (tx, rx) = std::sync::mpsc::sync_channel(1);
                    {
                        let mut n = next.lock().unwrap();
                        wal.append_with(vec![entry(*n, 1024)], move |r| tx.send(r).unwrap());
                        *n += 1;
                    }
                    rx.recv().unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(wal.last_index(), Some(3200));
    let all = wal.read_range(1, 3200).unwrap();
    assert!(all.iter().enumerate().all(|(i, e)| e.index == i as u64 + 1));
    assert!(
        wal.sealed_segments().len() >= 10,
        "256 KiB segments roll over"
    );
}

#[test]
fn rolls_over_by_size_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 16 << 10);
    o.segment_age = Duration::from_millis(200);
    let wal = Wal::open(o.clone(), None).unwrap().0;
    for i in 1..=40 {
        wal.append_blocking(vec![entry(i, 1000)]).unwrap();
    }
    let sealed = wal.sealed_segments();
    assert!(sealed.len() >= 2);
    for w in sealed.windows(2) {
        assert_eq!(w[0].last_index + 1, w[1].first_index);
    }
    for s in &sealed {
        assert!(
            fs::metadata(&s.path).unwrap().len() < 20 << 10,
            "sealed files are trimmed"
        );
    }
    let before = wal.sealed_segments().len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        wal.sealed_segments().len(),
        before + 1,
        "aged segment sealed while idle"
    );
    wal.append_blocking(vec![entry(41, 10)]).unwrap();
    drop(wal);
    let wal = Wal::open(o, None).unwrap().0;
    assert_eq!(wal.read_range(1, 41).unwrap().len(), 41);
}

#[test]
fn truncate_suffix_inside_a_frame_across_segments_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 8 << 10);
    // batches of 5 so truncation points fall inside frames
    for b in 0..20 {
        let batch: Vec<_> = (1..=5).map(|k| entry(b * 5 + k, 300)).collect();
        wal.append_blocking(batch).unwrap();
    }
    assert_eq!(wal.last_index(), Some(100));
    let segments_before = segment_files(dir.path()).len();
    wal.truncate(43).unwrap();
    assert_eq!(wal.last_index(), Some(42));
    assert!(segment_files(dir.path()).len() < segments_before);
    assert!(wal.read(43).is_err());
    // the log continues from 43 with new content
    for i in 43..=60 {
        let mut e = entry(i, 50);
        e.term = 99;
        wal.append_blocking(vec![e]).unwrap();
    }
    wal.truncate(58).unwrap();
    drop(wal);
    let (wal, report) = Wal::open(opts(dir.path(), 8 << 10), None).unwrap();
    assert_eq!(report.last_index, Some(57));
    let all = wal.read_range(1, 57).unwrap();
    assert_eq!(all[41], entry(42, 300));
    assert_eq!(all[42].term, 99);
    assert!(wal.truncate(0).is_err(), "before the first index");
}

#[test]
fn purge_removes_only_sealed_prefix_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 8 << 10);
    for i in 1..=60 {
        wal.append_blocking(vec![entry(i, 500)]).unwrap();
    }
    let sealed = wal.sealed_segments();
    let cut = sealed[1].last_index;
    assert_eq!(wal.purge(cut).unwrap(), 2);
    assert_eq!(wal.first_index(), Some(cut + 1));
    assert!(wal.read(cut).is_err());
    assert_eq!(
        wal.purge(u64::MAX).unwrap(),
        sealed.len() - 2,
        "never the active segment"
    );
    drop(wal);
    let wal = open(dir.path(), 8 << 10);
    assert_eq!(wal.last_index(), Some(60));
}

#[test]
fn missing_segment_is_reported_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 8 << 10);
    for i in 1..=60 {
        wal.append_blocking(vec![entry(i, 500)]).unwrap();
    }
    drop(wal);
    let files = segment_files(dir.path());
    fs::remove_file(&files[1]).unwrap();
    match Wal::open(opts(dir.path(), 8 << 10), None) {
        Err(WalError::Gap { next_segment, .. }) => assert_eq!(next_segment, files[2]),
        other => panic!("expected a gap, got {:?}", other.map(|_| ())),
    }
}

/// Frame layout of a segment written by `write_batches`, for the crash tests below.
struct Layout {
    /// (frame end offset, last index in frame) in file order
    frames: Vec<(u64, u64)>,
}

fn write_batches(dir: &Path, batches: &[usize]) -> (PathBuf, Layout) {
    let wal = open(dir, 4 << 20);
    let mut next = 1;
    for &n in batches {
        let batch: Vec<_> = (0..n)
            .map(|k| entry(next + k as u64, 40 + (k * 37) % 200))
            .collect();
        next += n as u64;
        wal.append_blocking(batch).unwrap();
    }
    let index = wal.read_index();
    let seg = &index.segments[0];
    let mut frames = Vec::new();
    for (i, f) in seg.frames.iter().enumerate() {
        let end = seg.frames.get(i + 1).map_or(seg.data_end, |n| n.offset);
        let last = seg
            .frames
            .get(i + 1)
            .map_or(seg.start + seg.records.len() as u64, |n| n.first_index)
            - 1;
        let _ = f;
        frames.push((end, last));
    }
    let path = seg.path.clone();
    drop(index);
    drop(wal);
    (path, Layout { frames })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A crash can stop the disk at any byte. Whatever was durable before that byte must
    /// come back; the recovered log is exactly the whole frames before the cut.
    #[test]
    fn wal_cut_at_any_byte_recovers_every_acknowledged_entry(
        batches in proptest::collection::vec(1usize..8, 1..12),
        cut_frac in 0.0f64..1.0,
        mode in 0u8..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, layout) = write_batches(dir.path(), &batches);
        let end = layout.frames.last().unwrap().0;
        let cut = segment::HEADER_LEN as u64 + ((end - segment::HEADER_LEN as u64) as f64 * cut_frac) as u64;
        let mut bytes = fs::read(&path).unwrap();
        match mode {
            // the tail was never written (preallocated zeros remain)
            0 => bytes[cut as usize..].fill(0),
            // the file was never extended past the cut
            1 => bytes.truncate(cut as usize),
            // a torn write: the rest of the last frame holds garbage
            _ => {
                let torn_end = layout.frames.iter().map(|f| f.0).find(|&e| e > cut).unwrap_or(end);
                for (i, b) in bytes[cut as usize..torn_end as usize].iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(31).wrapping_add(7);
                }
                bytes[torn_end as usize..].fill(0);
            }
        }
        fs::write(&path, &bytes).unwrap();

        let durable_last = layout.frames.iter().take_while(|f| f.0 <= cut).last().map(|f| f.1);
        let (wal, report) = Wal::open(opts(dir.path(), 4 << 20), None).unwrap();
        prop_assert_eq!(report.last_index, durable_last);
        if let Some(last) = durable_last {
            let got = wal.read_range(1, last).unwrap();
            prop_assert_eq!(got.len() as u64, last);
            for e in &got {
                prop_assert_eq!(e, &entry(e.index, e.payload.len()));
            }
        }
        // and the log keeps working after the repair, across another reopen
        let next = durable_last.unwrap_or(0) + 1;
        wal.append_blocking(vec![entry(next, 10)]).unwrap();
        drop(wal);
        let wal = open(dir.path(), 4 << 20);
        prop_assert_eq!(wal.last_index(), Some(next));
    }

    /// A flipped bit anywhere before the final frame is corruption, never a torn tail:
    /// open must refuse and name the segment and an offset at or before the damage.
    #[test]
    fn mid_log_bit_flip_is_refused(
        batches in proptest::collection::vec(1usize..6, 2..10),
        pos_frac in 0.0f64..1.0,
        bit in 0u8..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, layout) = write_batches(dir.path(), &batches);
        let before_last = layout.frames[layout.frames.len() - 2].0;
        let flip = segment::HEADER_LEN as u64 + ((before_last - segment::HEADER_LEN as u64) as f64 * pos_frac) as u64;
        let mut bytes = fs::read(&path).unwrap();
        bytes[flip as usize] ^= 1 << bit;
        fs::write(&path, &bytes).unwrap();
        match Wal::open(opts(dir.path(), 4 << 20), None) {
            Err(WalError::Corrupt { segment, offset, .. }) => {
                prop_assert_eq!(segment, path);
                prop_assert!(offset <= flip, "reported {} for a flip at {}", offset, flip);
            }
            other => prop_assert!(false, "flip at {} accepted: {:?}", flip, other.map(|(_, r)| r)),
        }
    }
}

#[test]
fn damage_in_a_sealed_segment_is_refused_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 8 << 10);
    for i in 1..=40 {
        wal.append_blocking(vec![entry(i, 500)]).unwrap();
    }
    drop(wal);
    let first = segment_files(dir.path())[0].clone();
    let mut bytes = fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40; // inside the seal frame
    fs::write(&first, &bytes).unwrap();
    let err = Wal::open(opts(dir.path(), 8 << 10), None)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains(&first.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_built_segment_is_a_sealed_segment_the_wal_opens_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (40..=60).map(|i| entry(i, 100 + i as usize)).collect();
    fs::write(
        segment::segment_path(dir.path(), 40),
        sealed_segment_bytes(7, &entries),
    )
    .unwrap();
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(wal.first_index(), Some(40));
    assert_eq!(wal.last_index(), Some(60));
    assert_eq!(wal.read_range(40, 60).unwrap(), entries);
    assert_eq!(wal.sealed_segments().len(), 1, "it opens as sealed");
    assert_eq!(wal.append_blocking(vec![entry(61, 10)]).unwrap(), 61);
    drop(wal);
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(wal.last_index(), Some(61));
}

#[test]
fn bytes_after_counts_the_unarchived_tail_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 8 << 10);
    for i in 1..=100 {
        wal.append_blocking(vec![entry(i, 500)]).unwrap();
    }
    assert!(wal.sealed_segments().len() >= 3, "spans several segments");
    let all = wal.bytes_after(0);
    assert!(all >= 100 * 500, "{all}");
    assert_eq!(wal.bytes_after(100), 0);
    let tail = wal.bytes_after(60);
    // 40 records of at least 500 bytes; frame overhead is small
    assert!((40 * 500..40 * 600).contains(&tail), "{tail}");
    assert!(wal.bytes_after(59) > tail);
}
