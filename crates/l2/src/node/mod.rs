//! The L2 node runtime: the sans-IO cores (responder, election,
//! membership, announcer) and the Linux driver joined into one tokio task.

mod types;

pub use types::{Desired, NodeConfig, NodeError, NodeStatus, Profile, VipDesire, VipStatus};

#[cfg(target_os = "linux")]
pub use runtime::{spawn, NodeHandle};

#[cfg(target_os = "linux")]
mod runtime {
    use std::sync::Arc;

    use tokio::sync::{oneshot, watch};

    use super::{Desired, NodeConfig, NodeError, NodeStatus};

    /// The running node: set what to announce, read its status, stop it.
    pub struct NodeHandle {
        desired: watch::Sender<Arc<Desired>>,
        status: watch::Receiver<Arc<NodeStatus>>,
        stop: Option<oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<()>>,
    }

    impl NodeHandle {
        /// Replaces the whole desired set; hitless: an unchanged winner
        /// sends nothing.
        pub fn set_desired(&self, d: Desired) {
            self.desired.send_replace(Arc::new(d));
        }

        /// A snapshot of the node's state.
        pub fn status(&self) -> NodeStatus {
            (**self.status.borrow()).clone()
        }

        /// SIGTERM: stop answering, send the signed leave, return.
        pub async fn shutdown(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = self.task.take() {
                let _ = task.await;
            }
        }
    }

    /// Starts the node (needs CAP_NET_RAW and a tokio runtime).
    pub async fn spawn(cfg: NodeConfig) -> Result<NodeHandle, NodeError> {
        let _ = cfg;
        Err(NodeError::Config {
            field: "node_name".into(),
            problem: "the L2 node runtime is not built yet".into(),
        })
    }
}
