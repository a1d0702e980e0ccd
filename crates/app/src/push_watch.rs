//! The response of a recorded push, read as the transport streams it to the client:
//! receive-pack tells only the client when it could not store a push (a full disk, say), so the
//! server watches the report to learn why, and hands it to `System::finish_push` with git's exit.

use autogit_git::pktline::ReportWatcher;
use autogit_git::{ExitInfo, PushOutcome};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long, after git has exited, the rest of its output may take to pass through to the
/// client before the outcome is read without it.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

/// The reading end: the watcher and a signal that the response stream is finished with.
pub struct Watch {
    watcher: Arc<Mutex<ReportWatcher>>,
    done: oneshot::Receiver<()>,
}

/// The feeding end, owned by the response stream; dropping it (the stream ended or the client
/// went away) tells [`Watch`] that nothing more will come.
pub struct Feeder {
    watcher: Arc<Mutex<ReportWatcher>>,
    _done: oneshot::Sender<()>,
}

/// A watch for a response whose client asked for a side band (`side_band`) or not.
pub fn watch(side_band: bool) -> (Watch, Feeder) {
    let watcher = Arc::new(Mutex::new(ReportWatcher::new(side_band)));
    let (tx, rx) = oneshot::channel();
    (Watch { watcher: watcher.clone(), done: rx }, Feeder { watcher, _done: tx })
}

impl Feeder {
    pub fn feed(&self, bytes: &[u8]) {
        if let Ok(mut w) = self.watcher.lock() {
            w.feed(bytes);
        }
    }
}

impl Watch {
    /// What the server saw of the push, once the response stream is done (or after a while).
    pub async fn outcome(self, exit: Option<ExitInfo>) -> PushOutcome {
        // Err means the stream was dropped: exactly the "done" signal.
        let _ = tokio::time::timeout(DRAIN_WAIT, self.done).await;
        let (unpack, messages) = match self.watcher.lock() {
            Ok(w) => (w.unpack_status().map(str::to_owned), w.messages().to_owned()),
            Err(_) => (None, String::new()),
        };
        PushOutcome { exit, unpack, messages }
    }
}
