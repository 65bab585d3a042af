//! How a service deploys (`deploymentConfiguration`): its strategy, as printed when the watch
//! starts, and how long its bake times add up to, which `WAIT_TIMEOUT` must cover and which the
//! watch waits out when it cannot read ECS's service deployments.

use std::time::Duration;

use aws_sdk_ecs::types::{DeploymentStrategy, Service};

use crate::domain::time::human;

/// How a service deploys, as printed when the watch starts, and how long its bake times add up
/// to, which `WAIT_TIMEOUT` must cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strategy {
    pub name: String,
    pub summary: String,
    pub bake: Duration,
}

impl Strategy {
    pub fn of(service: &Service) -> Strategy {
        let Some(config) = service.deployment_configuration() else {
            return Strategy::rolling("ROLLING".to_owned());
        };
        let minutes = |m: Option<i32>| Duration::from_secs(u64::try_from(m.unwrap_or(0)).unwrap_or(0) * 60);
        let name = config
            .strategy()
            .map_or("ROLLING", DeploymentStrategy::as_str)
            .to_owned();
        let mut parts = vec![name.clone()];
        let mut bake = minutes(config.bake_time_in_minutes());
        match config.strategy() {
            Some(DeploymentStrategy::Linear) => {
                let linear = config.linear_configuration();
                // ECS's defaults when a field is left out: 10 % steps, 6 minutes apart.
                let step = linear.and_then(|l| l.step_percent()).unwrap_or(10.0);
                let step_bake = minutes(linear.and_then(|l| l.step_bake_time_in_minutes()).or(Some(6)));
                if step > 0.0 {
                    parts.push(format!(
                        "{step}% of traffic per step, {} between steps",
                        human(step_bake)
                    ));
                    let steps = (100.0 / step).ceil() as u32;
                    bake += step_bake * steps.saturating_sub(1);
                }
            }
            Some(DeploymentStrategy::Canary) => {
                let canary = config.canary_configuration();
                // ECS's defaults: a 5 % canary for 10 minutes.
                let share = canary.and_then(|c| c.canary_percent()).unwrap_or(5.0);
                let canary_bake = minutes(canary.and_then(|c| c.canary_bake_time_in_minutes()).or(Some(10)));
                parts.push(format!("{share}% canary for {}", human(canary_bake)));
                bake += canary_bake;
            }
            _ => {}
        }
        if config.bake_time_in_minutes().is_some_and(|m| m > 0) {
            parts.push(format!("bake time {}", human(minutes(config.bake_time_in_minutes()))));
        }
        if !config.lifecycle_hooks().is_empty() {
            parts.push(format!("{} lifecycle hook(s)", config.lifecycle_hooks().len()));
        }
        if let Some(alarms) = config.alarms().filter(|a| a.enable() && !a.alarm_names().is_empty()) {
            parts.push(format!("alarms {}", alarms.alarm_names().join(", ")));
        }
        if let Some(breaker) = config.deployment_circuit_breaker().filter(|b| b.enable()) {
            parts.push(format!(
                "circuit breaker{}",
                if breaker.rollback() {
                    " with rollback"
                } else {
                    " without rollback"
                }
            ));
        }
        Strategy {
            name,
            summary: parts.join(", "),
            bake,
        }
    }

    fn rolling(summary: String) -> Strategy {
        Strategy {
            name: "ROLLING".to_owned(),
            summary,
            bake: Duration::ZERO,
        }
    }
}
