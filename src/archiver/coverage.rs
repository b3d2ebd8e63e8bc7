//! Records in the manifest up to which instant the archived log is complete, so that a
//! restore can refuse an instant the archive does not cover instead of restoring short.
//!
//! The leader asks its group for the lowest HLC an unarchived entry can carry
//! (`group/coverage.rs`) and records everything before that millisecond as covered. It does
//! so after every shipped segment and every [`COVERAGE_EVERY`] otherwise, so an idle group
//! (nothing to ship) still advances. Each refresh is one conditional put of the manifest.

use std::time::Duration;

use super::{Archiver, ArchiverError, Cached};
use crate::clock::{PhysicalClock, SystemClock};
use crate::group::LogGroup;

/// How often the leader refreshes the coverage of an idle group.
pub const COVERAGE_EVERY: Duration = Duration::from_secs(5);

impl Archiver {
    /// Raises the manifest's coverage to what this leader can prove now. The manifest must
    /// be in `cache` (a shipping round just ran).
    pub async fn record_coverage(
        &self,
        group: &LogGroup,
        cache: &mut Cached,
    ) -> Result<Option<u64>, ArchiverError> {
        let Some((mut manifest, version)) = cache.take() else {
            return Ok(None);
        };
        let archived = manifest.last_index().unwrap_or(0);
        let floor = match group.unarchived_floor(archived).await {
            Ok(f) => f,
            Err(e) => {
                *cache = Some((manifest, version));
                return Err(ArchiverError::Coverage(e.to_string()));
            }
        };
        let through = floor.physical_ms().saturating_sub(1);
        if !manifest.raise_coverage(through, archived, SystemClock.now_ms()) {
            *cache = Some((manifest, version));
            return Ok(Some(through));
        }
        let version = manifest.store(&self.backend, version.as_ref()).await?;
        self.metrics
            .covered_seconds
            .set(manifest.covered_through_ms().unwrap_or(0) as f64 / 1000.0);
        *cache = Some((manifest, Some(version)));
        Ok(Some(through))
    }
}
