use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

/// WAL instruments; created once per node and shared by every log group's WAL.
#[derive(Clone)]
pub struct WalMetrics {
    pub fsync_seconds: Histogram,
    pub batch_entries: Histogram,
    pub bytes_written: IntCounter,
    pub appends: IntCounter,
    pub segments_sealed: IntCounter,
}

impl WalMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let fsync_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "georep_wal_fsync_seconds",
                "Time of one WAL write batch's fdatasync",
            )
            .buckets(prometheus::exponential_buckets(0.000_05, 2.0, 14)?),
        )?;
        let batch_entries = Histogram::with_opts(
            HistogramOpts::new(
                "georep_wal_batch_entries",
                "Entries made durable by one fdatasync (group commit size)",
            )
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 13)?),
        )?;
        let bytes_written = IntCounter::new(
            "georep_wal_bytes_written_total",
            "Bytes written to WAL segments",
        )?;
        let appends = IntCounter::new("georep_wal_entries_total", "Entries appended to the WAL")?;
        let segments_sealed =
            IntCounter::new("georep_wal_segments_sealed_total", "WAL segments sealed")?;
        registry.register(Box::new(fsync_seconds.clone()))?;
        registry.register(Box::new(batch_entries.clone()))?;
        registry.register(Box::new(bytes_written.clone()))?;
        registry.register(Box::new(appends.clone()))?;
        registry.register(Box::new(segments_sealed.clone()))?;
        Ok(Self {
            fsync_seconds,
            batch_entries,
            bytes_written,
            appends,
            segments_sealed,
        })
    }
}
