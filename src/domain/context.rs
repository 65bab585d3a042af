//! What the run knows about where it runs: Bitbucket's build context, and the run context every
//! action receives (never the credentials).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::domain::scan::ScanResult;
use crate::domain::secret::Secret;

/// What Bitbucket tells every pipe about the build (`BITBUCKET_*`).
#[derive(Debug, Default, Deserialize)]
pub struct BitbucketContext {
    pub repo_slug: Option<String>,
    pub repo_full_name: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    pub build_number: Option<String>,
    pub step_uuid: Option<String>,
    pub deployment_environment: Option<String>,
    pub deployment_environment_uuid: Option<String>,
    /// The workspace's slug, the repository's UUID and the workspace's UUID (as the
    /// repository's owner): what `ACTION: trust-policy` scopes a role to without a token.
    pub workspace: Option<String>,
    pub repo_uuid: Option<String>,
    pub repo_owner_uuid: Option<String>,
    pub clone_dir: Option<PathBuf>,
    pub pipe_shared_storage_dir: Option<PathBuf>,
    /// Present when the step has `oidc: true`.
    pub step_oidc_token: Option<Secret>,
}

/// What every action needs to know about the run besides its own settings. Credentials are not
/// part of it: actions reach AWS only through the clients they are handed.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub region: String,
    /// The region's partition, for ARNs and console links.
    pub partition: &'static str,
    /// `WAIT_TIMEOUT` from the start of the run: every wait and retry ends by then.
    pub deadline: Instant,
    pub wait: bool,
    pub wait_timeout: Duration,
    /// The paced waits (the ECS watch, the ECR scan wait, the Lambda waits) are this many times
    /// faster (the tests' emulator only; 1 otherwise).
    pub pace_scale: u32,
    pub dry_run: bool,
    /// SIGTERM (Bitbucket's step time limit, a manual stop): the run's one cancellation signal.
    pub cancel: Cancellation,
    /// The image scans the action read, for the run's Code Insights report.
    pub scans: ScanLog,
}

/// The scan results an action read (`SCAN_FAIL_ON`), kept for the run's Code Insights SECURITY
/// report, also when the action fails on them: a failed step's outputs carry only the counts,
/// the report one annotation per finding. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct ScanLog {
    results: Arc<Mutex<Vec<ScanResult>>>,
}

impl ScanLog {
    pub fn record(&self, results: &[ScanResult]) {
        if let Ok(mut kept) = self.results.lock() {
            kept.extend_from_slice(results);
        }
    }

    pub fn recorded(&self) -> Vec<ScanResult> {
        self.results.lock().map(|kept| kept.clone()).unwrap_or_default()
    }
}

/// The run's one cancellation signal. Whoever watches the process's signals fires it; the run
/// answers it (the generic "Cancelled during ..." while no action follows anything), or an action
/// does, once it has said it will ([`Cancellation::answered_by_action`]): then it says what it
/// leaves in flight. Clones share the signal.
#[derive(Clone)]
pub struct Cancellation {
    inner: Arc<Shared>,
}

struct Shared {
    fired: tokio::sync::watch::Sender<bool>,
    answered_by_action: AtomicBool,
    /// Set by whoever prints the run's last line first (the run, or the watchdog of a run that
    /// does not stop): the other then prints nothing.
    last_line_claimed: AtomicBool,
}

impl std::fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Default for Cancellation {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancellation {
    pub fn new() -> Cancellation {
        Cancellation {
            inner: Arc::new(Shared {
                fired: tokio::sync::watch::Sender::new(false),
                answered_by_action: AtomicBool::new(false),
                last_line_claimed: AtomicBool::new(false),
            }),
        }
    }

    /// Fire the signal (from any thread, also while the run's own thread is blocked).
    pub fn cancel(&self) {
        self.inner.fired.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.inner.fired.borrow()
    }

    /// Resolves once the signal has fired (at once if it already has).
    pub async fn cancelled(&self) {
        let mut fired = self.inner.fired.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail while we hold it.
        let _ = fired.wait_for(|fired| *fired).await;
    }

    /// From now on the action answers the signal itself, saying what it leaves in flight.
    pub fn answered_by_action(&self) {
        self.inner.answered_by_action.store(true, Ordering::SeqCst);
    }

    /// Resolves once the signal has fired while no action answers it; never otherwise.
    pub async fn unanswered(&self) {
        self.cancelled().await;
        if self.inner.answered_by_action.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the caller is the first to print the run's last line.
    pub fn claim_last_line(&self) -> bool {
        !self.inner.last_line_claimed.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signal_shared_by_clones_answered_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let cancel = Cancellation::new();
        let seen = cancel.clone();
        assert!(!seen.is_cancelled());
        let unanswered = runtime.block_on(async {
            let waiting = tokio::spawn({
                let seen = seen.clone();
                async move { seen.cancelled().await }
            });
            std::thread::spawn(move || cancel.cancel()).join().unwrap();
            waiting.await.unwrap();
            tokio::time::timeout(Duration::from_millis(10), seen.unanswered()).await
        });
        assert!(seen.is_cancelled() && unanswered.is_ok());
        seen.answered_by_action();
        let answered =
            runtime.block_on(async { tokio::time::timeout(Duration::from_millis(10), seen.unanswered()).await });
        assert!(answered.is_err(), "an action answering it: the run does not");
        assert!(seen.claim_last_line() && !seen.clone().claim_last_line());
    }
}
