//! What keeps a long client's task running: every handle holds it, and the last one gone, or a
//! `close`, ends the task.

use std::sync::Mutex;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Ends the client's task when the last handle goes.
pub(crate) struct Lifeline {
    shutdown: watch::Sender<bool>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl Lifeline {
    pub(crate) fn new(shutdown: watch::Sender<bool>, driver: JoinHandle<()>) -> Self {
        Lifeline {
            shutdown,
            driver: Mutex::new(Some(driver)),
        }
    }

    /// Shuts the client down and waits for its task to end.
    pub(crate) async fn close(&self) {
        self.shutdown.send_replace(true);
        let driver = self.driver.lock().ok().and_then(|mut d| d.take());
        if let Some(driver) = driver {
            let _ = driver.await;
        }
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
