//! What the run knows about where it runs: Bitbucket's build context, and the run context every
//! action receives (never the credentials).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

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
    pub dry_run: bool,
}
