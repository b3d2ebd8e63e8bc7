//! Archive metrics, one series per group.

use prometheus::{
    Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct ArchiveMetrics {
    pub archived_index: IntGauge,
    pub lag_entries: IntGauge,
    pub lag_seconds: Gauge,
    pub backlog_bytes: IntGauge,
    pub writes_refused: IntGauge,
    pub segments: IntCounter,
    pub snapshots: IntCounter,
    pub plain_bytes: IntCounter,
    pub sealed_bytes: IntCounter,
    pub deleted_objects: IntCounter,
    pub cold_transitions: IntCounter,
    pub errors: IntCounter,
    /// Unix time (s) up to which the archive provably holds the whole log.
    pub covered_seconds: Gauge,
}

/// The archive metrics of a node, labelled by group; [`ArchiveMetricFamilies::for_group`]
/// gives one archiver its handles.
#[derive(Clone)]
pub struct ArchiveMetricFamilies {
    archived_index: IntGaugeVec,
    lag_entries: IntGaugeVec,
    lag_seconds: GaugeVec,
    backlog_bytes: IntGaugeVec,
    writes_refused: IntGaugeVec,
    segments: IntCounterVec,
    snapshots: IntCounterVec,
    plain_bytes: IntCounterVec,
    sealed_bytes: IntCounterVec,
    deleted_objects: IntCounterVec,
    cold_transitions: IntCounterVec,
    errors: IntCounterVec,
    covered_seconds: GaugeVec,
}

impl ArchiveMetricFamilies {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let g = &["group"];
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), g);
        let counter = |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), g);
        let m = Self {
            archived_index: gauge(
                "georep_archive_archived_index",
                "Highest log index the archive holds",
            )?,
            lag_entries: gauge(
                "georep_archive_lag_entries",
                "Durable log entries not yet in the archive",
            )?,
            lag_seconds: GaugeVec::new(
                Opts::new(
                    "georep_archive_lag_seconds",
                    "Age of the oldest durable entry not yet in the archive (RPO)",
                ),
                g,
            )?,
            backlog_bytes: gauge(
                "georep_archive_backlog_bytes",
                "WAL bytes the leader holds that the archive does not (compare with wal_cap_mib)",
            )?,
            writes_refused: gauge(
                "georep_archive_writes_refused",
                "1 while the leader refuses writes because the archive backlog passed wal_cap_mib",
            )?,
            segments: counter("georep_archive_segments_total", "Segments archived")?,
            snapshots: counter("georep_archive_snapshots_total", "Base snapshots archived")?,
            plain_bytes: counter(
                "georep_archive_plain_bytes_total",
                "Segment and snapshot bytes archived, before compression",
            )?,
            sealed_bytes: counter(
                "georep_archive_uploaded_bytes_total",
                "Sealed bytes uploaded",
            )?,
            deleted_objects: counter(
                "georep_archive_deleted_objects_total",
                "Objects deleted by retention (no restore point needs them)",
            )?,
            cold_transitions: counter(
                "georep_archive_cold_transitions_total",
                "Objects moved to the cold storage class",
            )?,
            errors: counter(
                "georep_archive_errors_total",
                "Failed archive rounds (retried)",
            )?,
            covered_seconds: GaugeVec::new(
                Opts::new(
                    "georep_archive_covered_timestamp_seconds",
                    "Unix time up to which the archive holds every entry of the group (the \
                     newest instant a restore can reach)",
                ),
                g,
            )?,
        };
        registry.register(Box::new(m.covered_seconds.clone()))?;
        registry.register(Box::new(m.archived_index.clone()))?;
        registry.register(Box::new(m.lag_entries.clone()))?;
        registry.register(Box::new(m.lag_seconds.clone()))?;
        registry.register(Box::new(m.backlog_bytes.clone()))?;
        registry.register(Box::new(m.writes_refused.clone()))?;
        registry.register(Box::new(m.segments.clone()))?;
        registry.register(Box::new(m.snapshots.clone()))?;
        registry.register(Box::new(m.plain_bytes.clone()))?;
        registry.register(Box::new(m.sealed_bytes.clone()))?;
        registry.register(Box::new(m.deleted_objects.clone()))?;
        registry.register(Box::new(m.cold_transitions.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        Ok(m)
    }

    pub fn for_group(&self, group: &str) -> ArchiveMetrics {
        let l = &[group];
        ArchiveMetrics {
            archived_index: self.archived_index.with_label_values(l),
            lag_entries: self.lag_entries.with_label_values(l),
            lag_seconds: self.lag_seconds.with_label_values(l),
            backlog_bytes: self.backlog_bytes.with_label_values(l),
            writes_refused: self.writes_refused.with_label_values(l),
            segments: self.segments.with_label_values(l),
            snapshots: self.snapshots.with_label_values(l),
            plain_bytes: self.plain_bytes.with_label_values(l),
            sealed_bytes: self.sealed_bytes.with_label_values(l),
            deleted_objects: self.deleted_objects.with_label_values(l),
            cold_transitions: self.cold_transitions.with_label_values(l),
            errors: self.errors.with_label_values(l),
            covered_seconds: self.covered_seconds.with_label_values(l),
        }
    }
}
