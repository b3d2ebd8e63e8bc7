//! The background tasks of one replica (its election driver and membership keeper, and
//! what the node runs for it: archiver or purger, failover watcher), owned in one place:
//! spawned into one join set, stopped together when the group shuts down or drops.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinSet;

#[derive(Default)]
pub struct GroupTasks(Mutex<JoinSet<()>>);

impl GroupTasks {
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.0.lock().expect("group tasks");
        // reap the ones that ended, so a long-lived group does not collect finished tasks
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Aborts every task (they hold no state that an abort could leave half-written:
    /// uploads are idempotent and redone after a restart).
    pub fn stop(&self) {
        self.0.lock().expect("group tasks").abort_all();
    }

    #[cfg(test)]
    fn running(&self) -> usize {
        self.0.lock().expect("group tasks").len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stop_ends_every_task_and_finished_ones_are_reaped() {
        let tasks = GroupTasks::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        for _ in 0..3 {
            let tx = tx.clone();
            tasks.spawn(async move {
                let _keep = tx;
                std::future::pending::<()>().await
            });
        }
        tasks.spawn(async {});
        tokio::time::sleep(Duration::from_millis(20)).await;
        tasks.spawn(async { std::future::pending::<()>().await });
        assert_eq!(tasks.running(), 4, "the finished task was reaped");
        drop(tx);
        tasks.stop();
        // every sender is dropped once the aborted tasks are gone
        tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("aborted tasks release what they hold");
    }
}
