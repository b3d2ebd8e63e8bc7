//! The log group as the consistency layer's `ReadReplica`: its view (leadership, epoch,
//! applied index, staleness) and its two waits.

use std::time::Duration;

use super::{GroupId, LogGroup};
use crate::consistency::{ReadReplica, ReplicaView};

impl ReadReplica for LogGroup {
    fn group_id(&self) -> GroupId {
        self.id()
    }

    fn view(&self, now_ms: u64) -> ReplicaView {
        ReplicaView {
            is_leader: self.is_leader(),
            epoch: self.epoch(),
            applied_index: self.applied_index(),
            staleness_ms: self.staleness_ms(now_ms),
        }
    }

    async fn read_barrier(&self, within: Duration) -> Result<(), String> {
        LogGroup::read_barrier(self, within)
            .await
            .map_err(|e| e.to_string())
    }

    async fn wait_applied(&self, index: u64, within: Duration) -> bool {
        LogGroup::wait_applied(self, index, within).await
    }
}
