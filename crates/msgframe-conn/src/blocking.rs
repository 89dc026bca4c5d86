//! The runtime behind the blocking handles: one per process, started on first use, with one
//! worker thread named `msgframe-conn` that runs the connection tasks while the calling threads
//! wait.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use crate::error::ConfigError;
use crate::Error;

fn runtime() -> Result<&'static tokio::runtime::Runtime, Error> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, Arc<std::io::Error>>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("msgframe-conn")
                .enable_all()
                .build()
                .map_err(Arc::new)
        })
        .as_ref()
        .map_err(|e| Error::Config(ConfigError::Runtime(Arc::clone(e))))
}

/// The handle to spawn connection tasks on for blocking clients and servers.
pub(crate) fn handle() -> Result<tokio::runtime::Handle, Error> {
    Ok(runtime()?.handle().clone())
}

/// Runs `future` to completion on the crate's runtime, blocking the calling thread.
///
/// # Errors
/// [`Error::Config`] when called from inside an async runtime, where blocking would stall it.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::Config(ConfigError::BlockingInRuntime));
    }
    Ok(runtime()?.block_on(future))
}
