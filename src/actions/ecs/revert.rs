//! `ACTION=rollback` for ECS: each service goes back to the revision it ran before its latest
//! deployment, and the rollout is followed exactly as an `ecs-deploy` of an existing revision
//! (the same `roll_out`). Nothing is registered.
//!
//! Which revision: ECS records it as the source revision of the service's current service
//! deployment (a service revision ARN, which `DescribeServiceRevisions` maps to its task
//! definition). Where that record is missing (a service's creation has no source, revisions
//! from before 25 October 2024 cannot be described, the API is refused), the newest ACTIVE
//! revision of the same family older than the current one. `TASK_DEFINITION` names the target
//! instead. Every service's target is decided before the first change; a service with nothing to
//! go back to stops the step with what was looked at.
//!
//! Not the same as `rollback.rs`, which rolls a deployment of this run back on request
//! (`ON_TIMEOUT`, `ON_FAILURE`) with `StopServiceDeployment`.

use std::collections::HashMap;

use aws_sdk_ecs::types::{Service, ServiceDeploymentStatus};
use serde_json::Value;
use tracing::info;

use super::plan::{self, Plan, Revision, describe_services};
use super::service_deployment;
use super::{EcsOutcome, roll_out, task_definition};
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecs::{EcsSettings, TaskDefinitionSource};
use crate::domain::task_definition::{family_revision, short_name};
use crate::error::Error;

/// ListTaskDefinitions pages read at most, newest first (100 revisions a page), before giving
/// up on finding an older ACTIVE one.
const MAX_PAGES: usize = 50;

/// Where one service goes back to, and why.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub(super) service: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) body: Value,
    pub(super) rule: String,
}

pub async fn run(run: &RunContext, settings: &EcsSettings, clients: &Clients) -> Result<EcsOutcome, Error> {
    let ecs = clients.ecs();
    let services = describe_services(&ecs, settings, false).await?;
    let choices = match &settings.task_definition {
        TaskDefinitionSource::Existing(reference) => named(&ecs, reference, &services).await?,
        _ => previous_revisions(&ecs, &settings.cluster, &services).await?,
    };
    for choice in &choices {
        info!(
            "{}: rolling back from {} to {} ({})",
            choice.service,
            short_name(&choice.from),
            short_name(&choice.to),
            choice.rule
        );
    }
    let plan = plan_of(&choices);
    let result = roll_out(run, settings, &ecs, &services, &plan, None, Default::default()).await;
    match result {
        Ok(mut outcome) => {
            mark(&mut outcome, &choices);
            Ok(outcome)
        }
        Err(Error::WithOutputs { error, mut outputs }) => {
            mark_json(&mut outputs, &choices);
            Err(Error::WithOutputs { error, outputs })
        }
        Err(other) => Err(other),
    }
}

/// One existing revision per distinct target, in the services' order.
fn plan_of(choices: &[Choice]) -> Plan {
    let mut revisions: Vec<Revision> = Vec::new();
    let mut arns: Vec<&str> = Vec::new();
    let mut targets = Vec::with_capacity(choices.len());
    for choice in choices {
        let index = arns.iter().position(|arn| *arn == choice.to).unwrap_or_else(|| {
            arns.push(&choice.to);
            revisions.push(Revision::Existing {
                arn: choice.to.clone(),
                body: choice.body.clone(),
            });
            revisions.len() - 1
        });
        targets.push(index);
    }
    Plan {
        revisions,
        targets,
        restart: false,
    }
}

/// The outcome says what it was: a rollback, from which revision, chosen how.
fn mark(outcome: &mut EcsOutcome, choices: &[Choice]) {
    outcome.action = "rollback";
    outcome.rolled_back_from = choices.first().map(|c| c.from.clone());
    for service in &mut outcome.services {
        if let Some(choice) = choices.iter().find(|c| c.service == service.name) {
            service.rolled_back_from = Some(choice.from.clone());
            service.chosen_by = Some(choice.rule.clone());
        }
    }
}

/// The same for the outputs a failed rollback still writes.
fn mark_json(outputs: &mut Value, choices: &[Choice]) {
    let Some(object) = outputs.as_object_mut() else {
        return;
    };
    object.insert("action".into(), "rollback".into());
    if let Some(first) = choices.first() {
        object.insert("rolled_back_from".into(), first.from.clone().into());
    }
    if let Some(Value::Array(services)) = object.get_mut("services") {
        for service in services {
            let name = service
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let (Some(choice), Some(fields)) = (choices.iter().find(|c| c.service == name), service.as_object_mut())
            {
                fields.insert("rolled_back_from".into(), choice.from.clone().into());
                fields.insert("chosen_by".into(), choice.rule.clone().into());
            }
        }
    }
}

/// `TASK_DEFINITION` names the target: every service goes to it (as ecs-deploy deploys an
/// existing revision), unless every one already runs it.
async fn named(ecs: &aws_sdk_ecs::Client, reference: &str, services: &[Service]) -> Result<Vec<Choice>, Error> {
    let (arn, body) = plan::existing(ecs, reference).await?;
    let choices: Vec<Choice> = services
        .iter()
        .map(|service| Choice {
            service: service.service_name().unwrap_or_default().to_owned(),
            from: service.task_definition().unwrap_or_default().to_owned(),
            to: arn.clone(),
            body: body.clone(),
            rule: "named by TASK_DEFINITION".to_owned(),
        })
        .collect();
    if choices.iter().all(|c| c.from == c.to) {
        let names: Vec<&str> = choices.iter().map(|c| c.service.as_str()).collect();
        return Err(Error::BadInput {
            summary: format!(
                "Nothing to roll back: {} already run(s) {}",
                names.join(", "),
                short_name(&arn)
            ),
            details: vec![
                "Nothing was changed. Set TASK_DEFINITION to the revision to go back to, or unset it to go back to \
                 the revision each service ran before its latest deployment."
                    .to_owned(),
            ],
        });
    }
    Ok(choices)
}

/// Each service's previous revision; all of them, or the step stops before any change.
async fn previous_revisions(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[Service],
) -> Result<Vec<Choice>, Error> {
    let mut families = Families::default();
    let mut choices = Vec::new();
    let mut nothing: Vec<String> = Vec::new();
    for service in services {
        let name = service.service_name().unwrap_or_default();
        let current = service.task_definition().unwrap_or_default();
        let record = match from_record(ecs, cluster, service, current).await? {
            Ok(found) => {
                choices.push(found);
                continue;
            }
            Err(missing) => missing,
        };
        match families.older_active(ecs, current).await? {
            Ok((arn, body)) => {
                let (family, _) = family_revision(current).unwrap_or_default();
                choices.push(Choice {
                    service: name.to_owned(),
                    from: current.to_owned(),
                    rule: format!(
                        "the newest ACTIVE revision of {family} older than {}, because ECS's record of the previous \
                         revision is missing: {record}",
                        short_name(current)
                    ),
                    to: arn,
                    body,
                });
            }
            Err(looked) => nothing.push(format!("{name} (runs {}): {record}; {looked}", short_name(current))),
        }
    }
    if !nothing.is_empty() {
        let mut details = nothing;
        details.push(
            "Nothing was changed. Set TASK_DEFINITION (family:revision) to name the revision to go back to.".to_owned(),
        );
        return Err(Error::BadInput {
            summary: "Nothing to roll back to".to_owned(),
            details,
        });
    }
    Ok(choices)
}

/// The source revision of the service's current service deployment, as ECS recorded it; or
/// why there is none to use.
async fn from_record(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &Service,
    current: &str,
) -> Result<Result<Choice, String>, Error> {
    let name = service.service_name().unwrap_or_default();
    let deployment_arn = match service.current_service_deployment() {
        Some(arn) => arn.to_owned(),
        None => match newest_service_deployment(ecs, cluster, name).await {
            Ok(Some(arn)) => arn,
            Ok(None) => return Ok(Err("ECS lists no service deployment for it".to_owned())),
            Err(failure) => return unavailable(failure),
        },
    };
    let described = match service_deployment::describe(ecs, std::slice::from_ref(&deployment_arn)).await {
        Ok(described) => described,
        Err(failure) => return unavailable(failure),
    };
    let Some(deployment) = described.deployments.first() else {
        let reason = described
            .failed
            .first()
            .map_or("no answer", |(_, reason)| reason.as_str());
        return Ok(Err(format!(
            "its service deployment {deployment_arn} could not be described ({reason})"
        )));
    };
    // Several sources: the deployment replaced an unfinished one. The one that ran the most
    // tasks is what the service ran.
    let Some(source) = deployment
        .source_service_revisions()
        .iter()
        .max_by_key(|s| s.running_task_count())
        .and_then(|s| s.arn())
    else {
        return Ok(Err(format!(
            "its current service deployment {deployment_arn} names no source revision (as for a service's creation)"
        )));
    };
    let request = ecs.describe_service_revisions().service_revision_arns(source);
    let revisions = match aws::call("ecs:DescribeServiceRevisions", request.send()).await {
        Ok(output) => output,
        Err(failure) => return unavailable(failure),
    };
    let Some(task_definition) = revisions
        .service_revisions()
        .iter()
        .find(|r| r.service_revision_arn() == Some(source))
        .and_then(|r| r.task_definition())
    else {
        let reason = revisions
            .failures()
            .first()
            .map(|f| {
                [f.reason(), f.detail()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .unwrap_or_else(|| "no task definition in ECS's answer".to_owned());
        return Ok(Err(format!(
            "ECS cannot describe the source revision {source} ({reason}; revisions created before 25 October 2024 \
             cannot be described)"
        )));
    };
    if short_name(task_definition) == short_name(current) {
        let rolled_back = deployment
            .status()
            .is_some_and(|s| matches!(s, ServiceDeploymentStatus::RollbackSuccessful));
        let why = if rolled_back {
            "that deployment was rolled back"
        } else {
            "that deployment changed no revision"
        };
        return Ok(Err(format!(
            "its current service deployment started from {}, which it runs now ({why})",
            short_name(current)
        )));
    }
    let body = match task_definition::describe(ecs, task_definition).await {
        Ok(described) => described.get("taskDefinition").cloned().unwrap_or_default(),
        Err(failure) if failure.code_is("ClientException") => {
            return Ok(Err(format!(
                "ECS recorded {} as the previous revision, and it cannot be described ({failure})",
                short_name(task_definition)
            )));
        }
        Err(failure) => return Err(failure.into_error()),
    };
    if let Some(status) = plan::unusable(&body) {
        return Ok(Err(format!(
            "ECS recorded {} as the previous revision, and it is {status} (no service can be updated to it)",
            short_name(task_definition)
        )));
    }
    Ok(Ok(Choice {
        service: name.to_owned(),
        from: current.to_owned(),
        to: body
            .get("taskDefinitionArn")
            .and_then(Value::as_str)
            .unwrap_or(task_definition)
            .to_owned(),
        body,
        rule: format!("the source revision of its current service deployment {deployment_arn}"),
    }))
}

/// A refusal of the service deployments API (permissions, a partition without it) leaves the
/// family rule; anything else stops the step.
fn unavailable(failure: AwsFailure) -> Result<Result<Choice, String>, Error> {
    if service_deployment::is_unavailable(&failure) {
        Ok(Err(format!("{} was refused ({failure})", failure.operation)))
    } else {
        Err(failure.into_error())
    }
}

/// The newest service deployment ECS lists for the service (when DescribeServices names none).
async fn newest_service_deployment(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<String>, AwsFailure> {
    let request = ecs.list_service_deployments().cluster(cluster).service(service);
    let output = aws::call("ecs:ListServiceDeployments", request.send()).await?;
    Ok(output
        .service_deployments()
        .iter()
        .max_by_key(|d| d.created_at().map(|t| (t.secs(), t.subsec_nanos())))
        .and_then(|d| d.service_deployment_arn())
        .map(str::to_owned))
}

/// The ACTIVE revisions of each family, read once however many services share it.
#[derive(Default)]
struct Families {
    /// family → ACTIVE revision ARNs, newest first, as far as they were read.
    read: HashMap<String, Vec<String>>,
}

impl Families {
    /// The newest ACTIVE revision of `current`'s family older than it, with its body; or what
    /// was looked at.
    async fn older_active(
        &mut self,
        ecs: &aws_sdk_ecs::Client,
        current: &str,
    ) -> Result<Result<(String, Value), String>, Error> {
        let Some((family, number)) = family_revision(current) else {
            return Ok(Err(format!("{current} is not a family:revision")));
        };
        if !self.read.contains_key(family) {
            let listed = list_active(ecs, family, number).await.map_err(AwsFailure::into_error)?;
            self.read.insert(family.to_owned(), listed);
        }
        let listed = &self.read[family];
        let older = listed
            .iter()
            .filter_map(|arn| family_revision(arn).map(|(_, n)| (n, arn)))
            .filter(|(n, _)| *n < number)
            .max_by_key(|(n, _)| *n);
        let Some((_, arn)) = older else {
            let seen: Vec<String> = listed.iter().map(|arn| short_name(arn)).collect();
            return Ok(Err(format!(
                "ACTIVE revisions of {family}: {} (none older than {})",
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                },
                short_name(current)
            )));
        };
        let described = task_definition::describe(ecs, arn)
            .await
            .map_err(AwsFailure::into_error)?;
        Ok(Ok((
            arn.clone(),
            described.get("taskDefinition").cloned().unwrap_or_default(),
        )))
    }
}

/// ACTIVE revisions of `family`, newest first, until one older than `number` is read.
async fn list_active(ecs: &aws_sdk_ecs::Client, family: &str, number: u32) -> Result<Vec<String>, AwsFailure> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .set_next_token(token.take());
        let output = aws::call("ecs:ListTaskDefinitions", request.send()).await?;
        // familyPrefix is the full family name, but keep only that family's revisions anyway.
        arns.extend(
            output
                .task_definition_arns()
                .iter()
                .filter(|arn| family_revision(arn).is_some_and(|(f, _)| f == family))
                .cloned(),
        );
        let found = arns
            .iter()
            .any(|arn| family_revision(arn).is_some_and(|(_, n)| n < number));
        match output.next_token() {
            Some(next) if !found => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(arns)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn choice(service: &str, from: &str, to: &str) -> Choice {
        Choice {
            service: service.into(),
            from: format!("arn:aws:ecs:eu-west-1:1:task-definition/{from}"),
            to: format!("arn:aws:ecs:eu-west-1:1:task-definition/{to}"),
            body: json!({"revision": 1}),
            rule: "a rule".into(),
        }
    }

    #[test]
    fn services_going_back_to_the_same_revision_share_it_in_the_plan() {
        let plan = plan_of(&[
            choice("web", "web:3", "web:2"),
            choice("api", "web:3", "web:2"),
            choice("worker", "worker:9", "worker:8"),
        ]);
        assert_eq!(plan.revisions.len(), 2);
        assert_eq!(plan.targets, vec![0, 0, 1]);
        assert!(!plan.restart);
    }

    #[test]
    fn failed_outputs_say_it_was_a_rollback_and_from_where() {
        let mut outputs = json!({"action": "ecs-deploy", "services": [{"name": "api"}, {"name": "web"}]});
        mark_json(
            &mut outputs,
            &[choice("web", "web:3", "web:2"), choice("api", "api:5", "api:4")],
        );
        assert_eq!(outputs["action"], "rollback");
        assert!(outputs["rolled_back_from"].as_str().unwrap().ends_with("web:3"));
        assert!(
            outputs["services"][0]["rolled_back_from"]
                .as_str()
                .unwrap()
                .ends_with("api:5")
        );
        assert_eq!(outputs["services"][1]["chosen_by"], "a rule");
    }
}
