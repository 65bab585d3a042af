//! ECS's own account of each rollout, its *service deployment*: status, lifecycle stage, and
//! what rolled it back. The watch follows it when the API is there, because for blue/green,
//! linear and canary strategies `deployments[]` reads COMPLETED while traffic is still shifting,
//! and a failed lifecycle hook or an alarm shows only here. Without the API (denied, or a
//! partition without it) the watch judges `deployments[]` with rolling-update rules instead.

use aws_sdk_ecs::types::{
    ServiceDeployment, ServiceDeploymentRollbackMonitorsStatus, ServiceDeploymentStatus, StopServiceDeploymentStopType,
};

use super::verdict::Verdict;
use crate::aws::{self, AwsFailure, FailureKind};

/// DescribeServiceDeployments takes at most this many ARNs per call.
pub const DESCRIBE_BATCH: usize = 20;

/// What DescribeServiceDeployments answered: the deployments, and the ARNs it could not
/// describe (MISSING, or refused for that service by a resource-level policy).
#[derive(Debug, Default)]
pub struct Described {
    pub deployments: Vec<ServiceDeployment>,
    pub failed: Vec<(String, String)>,
}

/// DescribeServiceDeployments for `arns`, in batches of twenty.
pub async fn describe(ecs: &aws_sdk_ecs::Client, arns: &[String]) -> Result<Described, AwsFailure> {
    let mut described = Described::default();
    for batch in arns.chunks(DESCRIBE_BATCH) {
        let request = ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(batch.to_vec()));
        let output = aws::call("ecs:DescribeServiceDeployments", request.send()).await?;
        described.failed.extend(output.failures().iter().map(|f| {
            let reason = [f.reason(), f.detail()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            (f.arn().unwrap_or_default().to_owned(), reason)
        }));
        described
            .deployments
            .extend(output.service_deployments.unwrap_or_default());
    }
    Ok(described)
}

/// Ask ECS to roll a deployment back (it may not have been configured to).
pub async fn roll_back(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<(), AwsFailure> {
    let request = ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback);
    aws::call("ecs:StopServiceDeployment", request.send()).await.map(|_| ())
}

/// The service deployments API is not there for this pipe: its role may not call it, or the
/// partition does not offer it. Following `deployments[]` is the way left.
pub fn is_unavailable(failure: &AwsFailure) -> bool {
    failure.kind == FailureKind::Refused
        && [
            "AccessDenied",
            "AccessDeniedException",
            "UnsupportedFeatureException",
            "UnknownOperationException",
            "InvalidAction",
            "UnsupportedOperation",
        ]
        .iter()
        .any(|code| failure.code_is(code))
}

pub fn is_final(deployment: &ServiceDeployment) -> bool {
    matches!(
        deployment.status(),
        Some(
            ServiceDeploymentStatus::Successful
                | ServiceDeploymentStatus::Stopped
                | ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed
        )
    )
}

/// "IN_PROGRESS, stage PRODUCTION_TRAFFIC_SHIFT, production traffic 25%": printed each time it
/// changes, with the hooks that wait or ran out of time.
pub fn progress(deployment: &ServiceDeployment) -> String {
    let status = deployment.status().map_or("unknown", |s| s.as_str());
    let mut line = match deployment.lifecycle_stage() {
        Some(stage) => format!("{status}, stage {}", stage.as_str()),
        None => status.to_owned(),
    };
    if let Some(target) = deployment.target_service_revision() {
        if let Some(weight) = target.requested_test_traffic_weight().filter(|w| *w > 0.0) {
            line.push_str(&format!(", test traffic {weight}%"));
        }
        if let Some(weight) = target.requested_production_traffic_weight() {
            line.push_str(&format!(", production traffic {weight}%"));
        }
    }
    for hook in deployment.lifecycle_hook_details() {
        let state = hook.status().map_or("", |s| s.as_str());
        if matches!(state, "AWAITING_ACTION" | "TIMED_OUT") {
            let name = hook.target_arn().or(hook.hook_id()).unwrap_or("a lifecycle hook");
            line.push_str(&format!(", hook {name} {state}"));
            if state == "AWAITING_ACTION" {
                line.push_str(" (ContinueServiceDeployment, or the hook's timeout action, decides)");
            }
        }
    }
    line
}

/// Why ECS rolled back (or found the deployment failing): the circuit breaker's count, the
/// alarms in ALARM, the failed lifecycle hooks, and ECS's own reasons.
pub fn findings(deployment: &ServiceDeployment) -> String {
    let triggered = Some(&ServiceDeploymentRollbackMonitorsStatus::Triggered);
    let mut parts = Vec::new();
    if let Some(breaker) = deployment
        .deployment_circuit_breaker()
        .filter(|b| b.status() == triggered)
    {
        parts.push(format!(
            "circuit breaker: {} failed task(s), threshold {}",
            breaker.failure_count(),
            breaker.threshold()
        ));
    }
    if let Some(alarms) = deployment.alarms().filter(|a| a.status() == triggered) {
        parts.push(format!(
            "alarms in ALARM: {}",
            alarms.triggered_alarm_names().join(", ")
        ));
    }
    let failed_hooks: Vec<String> = deployment
        .lifecycle_hook_details()
        .iter()
        .filter(|hook| {
            hook.status()
                .is_some_and(|s| matches!(s.as_str(), "FAILED" | "TIMED_OUT"))
        })
        .map(|hook| {
            let target = hook.target_arn().unwrap_or_else(|| hook.hook_id().unwrap_or("?"));
            let how = if hook.status().is_some_and(|s| s.as_str() == "TIMED_OUT") {
                "timed out"
            } else {
                "failed"
            };
            format!("lifecycle hook {target} {how}")
        })
        .collect();
    parts.extend(failed_hooks);
    if let Some(reason) = deployment.rollback().and_then(|r| r.reason()) {
        parts.push(reason.to_owned());
    }
    if let Some(reason) = deployment.status_reason() {
        parts.push(reason.to_owned());
    }
    if parts.is_empty() {
        "ECS gave no reason".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The circuit breaker or an alarm found the deployment failing.
pub fn failure_detected(deployment: &ServiceDeployment) -> bool {
    let triggered = Some(&ServiceDeploymentRollbackMonitorsStatus::Triggered);
    deployment
        .deployment_circuit_breaker()
        .is_some_and(|b| b.status() == triggered)
        || deployment.alarms().is_some_and(|a| a.status() == triggered)
}

/// The verdict ECS's service deployment gives, or None while it goes on. `by_pipe`: the pipe
/// itself asked for the stop or rollback.
pub fn verdict(deployment: &ServiceDeployment, by_pipe: bool) -> Option<Verdict> {
    let findings = findings(deployment);
    let who = if by_pipe {
        "at the pipe's request"
    } else {
        "not by this pipe"
    };
    match deployment.status()? {
        ServiceDeploymentStatus::Successful => Some(Verdict::Completed),
        ServiceDeploymentStatus::RollbackSuccessful => {
            Some(Verdict::RolledBack(format!("ECS rolled it back ({findings})")))
        }
        ServiceDeploymentStatus::RollbackFailed => Some(Verdict::RolledBack(format!(
            "ECS tried to roll it back and the rollback FAILED ({findings}); check the service"
        ))),
        // The circuit breaker or an alarm found it failing, and rollback is not configured: ECS
        // stops the deployment where it is.
        ServiceDeploymentStatus::Stopped if failure_detected(deployment) && !by_pipe => Some(Verdict::Failed(format!(
            "ECS found it failing and stopped it; it is not configured to roll back ({findings})"
        ))),
        ServiceDeploymentStatus::Stopped => Some(Verdict::Failed(format!("it was stopped, {who} ({findings})"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Rollback, ServiceDeploymentAlarms, ServiceDeploymentCircuitBreaker};

    use super::*;

    fn deployment(status: &str) -> aws_sdk_ecs::types::builders::ServiceDeploymentBuilder {
        ServiceDeployment::builder()
            .service_deployment_arn("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/abc")
            .status(ServiceDeploymentStatus::from(status))
    }

    #[test]
    fn verdicts_follow_the_final_status() {
        let rolled_back = deployment("ROLLBACK_SUCCESSFUL")
            .deployment_circuit_breaker(
                ServiceDeploymentCircuitBreaker::builder()
                    .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
                    .failure_count(4)
                    .threshold(3)
                    .build(),
            )
            .rollback(Rollback::builder().reason("circuit breaker threshold exceeded").build())
            .build();
        let text = verdict(&rolled_back, false).unwrap().to_string();
        assert!(
            text.contains("4 failed task(s), threshold 3") && text.contains("threshold exceeded"),
            "{text}"
        );

        let alarm = deployment("ROLLBACK_IN_PROGRESS")
            .alarms(
                ServiceDeploymentAlarms::builder()
                    .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
                    .triggered_alarm_names("web-5xx")
                    .build(),
            )
            .build();
        assert_eq!(verdict(&alarm, false), None, "a rollback in progress is not over");
        assert!(findings(&alarm).contains("alarms in ALARM: web-5xx"));

        assert_eq!(
            verdict(&deployment("SUCCESSFUL").build(), false),
            Some(Verdict::Completed)
        );
        for ongoing in ["PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "STOP_REQUESTED"] {
            assert_eq!(verdict(&deployment(ongoing).build(), false), None, "{ongoing}");
        }
        let stopped = deployment("STOPPED").status_reason("stopped by a user").build();
        assert!(
            verdict(&stopped, false)
                .unwrap()
                .to_string()
                .contains("not by this pipe")
        );
        assert!(
            verdict(&stopped, true)
                .unwrap()
                .to_string()
                .contains("at the pipe's request")
        );
        let failing = deployment("STOPPED")
            .deployment_circuit_breaker(
                ServiceDeploymentCircuitBreaker::builder()
                    .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
                    .failure_count(3)
                    .threshold(3)
                    .build(),
            )
            .build();
        let text = verdict(&failing, false).unwrap().to_string();
        assert!(text.contains("not configured to roll back"), "{text}");
        let watching = deployment("IN_PROGRESS")
            .deployment_circuit_breaker(
                ServiceDeploymentCircuitBreaker::builder()
                    .status(ServiceDeploymentRollbackMonitorsStatus::Triggered)
                    .build(),
            )
            .build();
        assert_eq!(
            verdict(&watching, false),
            None,
            "ECS decides; a rollback may be on its way"
        );
    }

    #[test]
    fn unavailable_means_denied_or_unknown_not_throttled() {
        let refused = |code: &str| AwsFailure {
            code: Some(code.into()),
            ..AwsFailure::local("ecs:DescribeServiceDeployments", "x")
        };
        assert!(is_unavailable(&refused("AccessDeniedException")));
        assert!(is_unavailable(&refused("UnknownOperationException")));
        let throttled = AwsFailure {
            kind: FailureKind::Throttled,
            ..refused("ThrottlingException")
        };
        assert!(!is_unavailable(&throttled));
    }
}
