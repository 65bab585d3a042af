//! `KEEP_REVISIONS`: after a successful deploy (or rollback), deregister the ACTIVE revisions of
//! each deployed family beyond the newest N, never one that a deployment of any service in the
//! cluster uses (PRIMARY, ACTIVE or draining, a task set's). Cleaning up is not the deploy: a
//! refused or failed call is a warning naming the permission, and the step stays a success.

use std::collections::BTreeSet;
use std::time::Instant;

use aws_sdk_ecs::types::{SortOrder, TaskDefinitionStatus};
use tracing::{info, warn};

use crate::aws::{self, AwsFailure};
use crate::domain::task_definition::{family_revision, short_name};

/// Pages of ListTaskDefinitions / ListServices read at most (100 revisions, 10 services a page).
const MAX_PAGES: usize = 100;

/// What a cleanup deregistered, as `family:revision`, oldest first.
pub(crate) async fn deregister_old_revisions(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    families: &[String],
    keep: u16,
    deadline: Instant,
) -> Vec<String> {
    let in_use = match revisions_in_use(ecs, cluster).await {
        Ok(in_use) => in_use,
        Err(failure) => {
            warn!("KEEP_REVISIONS: nothing was deregistered: {}", said(&failure));
            return Vec::new();
        }
    };
    let mut deregistered = Vec::new();
    for family in families {
        let active = match active_revisions(ecs, family).await {
            Ok(active) => active,
            Err(failure) => {
                warn!(
                    "KEEP_REVISIONS: no revision of {family} was deregistered: {}",
                    said(&failure)
                );
                continue;
            }
        };
        let (old, used): (Vec<_>, Vec<_>) = active
            .iter()
            .skip(usize::from(keep))
            .partition(|(_, name)| !in_use.contains(name));
        if !used.is_empty() {
            info!(
                "KEEP_REVISIONS: keeping {} (a deployment in {cluster} uses it)",
                used.iter()
                    .map(|(_, name)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Oldest first: a cleanup cut short leaves the newest of the old ones.
        for (arn, name) in old.into_iter().rev() {
            if Instant::now() >= deadline {
                warn!("KEEP_REVISIONS: WAIT_TIMEOUT ran out; {name} and older revisions were left ACTIVE");
                return deregistered;
            }
            let request = ecs.deregister_task_definition().task_definition(arn);
            match aws::call("ecs:DeregisterTaskDefinition", request.send()).await {
                Ok(_) => deregistered.push(name.clone()),
                Err(failure) => {
                    warn!("KEEP_REVISIONS: {name} was not deregistered: {}", said(&failure));
                    break;
                }
            }
        }
    }
    if deregistered.is_empty() {
        info!("KEEP_REVISIONS: {keep} kept per family; nothing to deregister");
    } else {
        info!(
            "KEEP_REVISIONS: deregistered {} (INACTIVE now: they can still be described, and run until ECS deletes them)",
            deregistered.join(", ")
        );
    }
    deregistered
}

/// The failure, and the permission that would let it pass.
fn said(failure: &AwsFailure) -> String {
    if failure.code_is("AccessDeniedException") || failure.code_is("AccessDenied") {
        format!(
            "{failure}. Add {} to the role's policy to have old revisions cleaned up (the deploy itself succeeded)",
            failure.operation
        )
    } else {
        format!("{failure} (the deploy itself succeeded)")
    }
}

/// `family:revision` of every revision a deployment or task set of a service in `cluster` uses.
async fn revisions_in_use(ecs: &aws_sdk_ecs::Client, cluster: &str) -> Result<BTreeSet<String>, AwsFailure> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = ecs.list_services().cluster(cluster).set_next_token(token.take());
        let output = aws::call("ecs:ListServices", request.send()).await?;
        arns.extend(output.service_arns().iter().cloned());
        match output.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let mut in_use = BTreeSet::new();
    for chunk in arns.chunks(10) {
        let request = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()));
        let output = aws::call("ecs:DescribeServices", request.send()).await?;
        for service in output.services() {
            let deployments = service.deployments().iter().filter_map(|d| d.task_definition());
            let task_sets = service.task_sets().iter().filter_map(|t| t.task_definition());
            for arn in service
                .task_definition()
                .into_iter()
                .chain(deployments)
                .chain(task_sets)
            {
                in_use.insert(short_name(arn));
            }
        }
    }
    Ok(in_use)
}

/// (ARN, `family:revision`) of the family's ACTIVE revisions, newest first.
async fn active_revisions(ecs: &aws_sdk_ecs::Client, family: &str) -> Result<Vec<(String, String)>, AwsFailure> {
    let mut revisions = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .set_next_token(token.take());
        let output = aws::call("ecs:ListTaskDefinitions", request.send()).await?;
        for arn in output.task_definition_arns() {
            if let Some((f, number)) = family_revision(arn).filter(|(f, _)| *f == family) {
                revisions.push((number, arn.clone(), format!("{f}:{number}")));
            }
        }
        match output.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    // Newest first by number, whatever order the pages came in.
    revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
    Ok(revisions.into_iter().map(|(_, arn, name)| (arn, name)).collect())
}

/// The families of the revisions deployed, each once, in order.
pub(crate) fn families<'a>(arns: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut families: Vec<String> = Vec::new();
    for arn in arns {
        if let Some((family, _)) = family_revision(arn)
            && !families.iter().any(|f| f == family)
        {
            families.push(family.to_owned());
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_each_said_once_in_order() {
        let arns = [
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:7",
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/worker:3",
            "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:7",
        ];
        assert_eq!(families(arns), vec!["web".to_owned(), "worker".to_owned()]);
    }
}
