//! `KEEP_VERSIONS`: after a successful deploy (or rollback), delete the function's published
//! versions beyond the newest N, never one an alias points at (its version, or one it sends a
//! weighted share to) nor one with provisioned concurrency. Lambda counts every version's code
//! against the region's code storage. Cleaning up is not the deploy: a refused or failed call is
//! a warning naming the permission, and the step stays a success.

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{info, warn};

use crate::aws::{self, AwsFailure};

/// Pages of ListVersionsByFunction / ListAliases read at most (50 items a page).
const MAX_PAGES: usize = 200;

/// The versions deleted, oldest first.
pub(crate) async fn delete_old_versions(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    keep: u16,
    deadline: Instant,
) -> Vec<String> {
    let versions = match published_versions(lambda, function).await {
        Ok(versions) => versions,
        Err(failure) => {
            warn!("KEEP_VERSIONS: nothing was deleted: {}", said(&failure, function, None));
            return Vec::new();
        }
    };
    // Oldest first (as listed): a cleanup cut short leaves the newest of the old ones.
    let old = &versions[..versions.len().saturating_sub(usize::from(keep))];
    if old.is_empty() {
        info!(
            "KEEP_VERSIONS: {} published version(s), {keep} kept; nothing to delete",
            versions.len()
        );
        return Vec::new();
    }
    let aliased = match aliased_versions(lambda, function).await {
        Ok(aliased) => aliased,
        Err(failure) => {
            warn!("KEEP_VERSIONS: nothing was deleted: {}", said(&failure, function, None));
            return Vec::new();
        }
    };
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    for version in old {
        let version = version.to_string();
        if let Some(alias) = aliased.iter().find(|(v, _)| *v == version).map(|(_, alias)| alias) {
            kept.push(format!("{version} (alias {alias})"));
            continue;
        }
        if Instant::now() >= deadline {
            warn!("KEEP_VERSIONS: WAIT_TIMEOUT ran out; version {version} and newer old versions were kept");
            break;
        }
        match provisioned(lambda, function, &version).await {
            Ok(false) => {}
            Ok(true) => {
                kept.push(format!("{version} (provisioned concurrency)"));
                continue;
            }
            Err(failure) => {
                warn!(
                    "KEEP_VERSIONS: version {version} and newer old versions were kept: {}",
                    said(&failure, function, Some(&version))
                );
                break;
            }
        }
        let request = lambda.delete_function().function_name(function).qualifier(&version);
        match aws::call("lambda:DeleteFunction", request.send()).await {
            Ok(_) => deleted.push(version),
            // An alias pointed at it since the list: Lambda refuses ("…aliases reference it").
            Err(failure) if failure.code_is("ResourceConflictException") => {
                kept.push(format!("{version} ({})", failure.message));
            }
            Err(failure) => {
                warn!(
                    "KEEP_VERSIONS: version {version} and newer old versions were kept: {}",
                    said(&failure, function, Some(&version))
                );
                break;
            }
        }
    }
    if !kept.is_empty() {
        info!("KEEP_VERSIONS: keeping {}", kept.join(", "));
    }
    if deleted.is_empty() {
        info!("KEEP_VERSIONS: no version was deleted");
    } else {
        info!("KEEP_VERSIONS: deleted version(s) {} of {function}", deleted.join(", "));
    }
    deleted
}

/// The failure, and the permission that would let it pass.
fn said(failure: &AwsFailure, function: &str, version: Option<&str>) -> String {
    if failure.code_is("AccessDeniedException") || failure.code_is("AccessDenied") {
        let on = match version {
            Some(_) => format!("the function's versions ({function}:*)"),
            None => format!("the function ({function})"),
        };
        format!(
            "{failure}. Add {} on {on} to the role's policy to have old versions cleaned up (the deploy itself \
             succeeded)",
            failure.operation
        )
    } else {
        format!("{failure} (the deploy itself succeeded)")
    }
}

/// Every published version number of the function (`$LATEST` left out), oldest first, page by
/// page. Shared by the cleanup and the Lambda rollback, which both need the whole list.
pub(super) async fn published_versions(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Vec<u64>, AwsFailure> {
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = lambda
            .list_versions_by_function()
            .function_name(function)
            .set_marker(marker.take());
        let output = aws::call("lambda:ListVersionsByFunction", request.send()).await?;
        versions.extend(
            output
                .versions()
                .iter()
                .filter_map(|v| v.version())
                .filter_map(|v| v.parse::<u64>().ok()),
        );
        match output.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    versions.sort_unstable();
    versions.dedup();
    Ok(versions)
}

/// (version, alias) for every version an alias points at or sends a weighted share to.
async fn aliased_versions(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<BTreeSet<(String, String)>, AwsFailure> {
    let mut aliased = BTreeSet::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = lambda.list_aliases().function_name(function).set_marker(marker.take());
        let output = aws::call("lambda:ListAliases", request.send()).await?;
        for alias in output.aliases() {
            let name = alias.name().unwrap_or_default().to_owned();
            if let Some(version) = alias.function_version() {
                aliased.insert((version.to_owned(), name.clone()));
            }
            let weights = alias.routing_config().and_then(|r| r.additional_version_weights());
            for version in weights.into_iter().flat_map(|w| w.keys()) {
                aliased.insert((version.clone(), format!("{name}, weighted")));
            }
        }
        match output.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(aliased)
}

/// Whether the version has a provisioned-concurrency configuration of its own.
async fn provisioned(lambda: &aws_sdk_lambda::Client, function: &str, version: &str) -> Result<bool, AwsFailure> {
    let request = lambda
        .get_provisioned_concurrency_config()
        .function_name(function)
        .qualifier(version);
    match aws::call("lambda:GetProvisionedConcurrencyConfig", request.send()).await {
        Ok(_) => Ok(true),
        Err(failure) if failure.code_is("ProvisionedConcurrencyConfigNotFoundException") => Ok(false),
        Err(failure) => Err(failure),
    }
}
