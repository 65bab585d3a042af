//! The report of a deployment (`ecs-deploy`, `lambda-deploy`): what was deployed (revision or
//! version, alias), each service's or the function's final state, how long it took, console
//! links; PASSED, FAILED, or PENDING when not waited for.
//!
//! Built from the run's outputs (the JSON later script lines read, also written for a failed run
//! that changed something), so the report says what the outputs say; a failure before anything
//! changed has no outputs, and its report names the targets as the settings give them.

use serde::Deserialize;

use super::{Datum, Ended, Report, ReportType, Run, Verdict, report_id};
use crate::domain::arn::console_host;
use crate::domain::ecs::EcsSettings;
use crate::domain::lambda::LambdaSettings;
use crate::domain::task_definition::short_name;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EcsOutputs {
    task_definition_arn: Option<String>,
    services: Vec<ServiceOutputs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceOutputs {
    name: String,
    task_definition_arn: Option<String>,
    state: String,
    final_status: Option<String>,
    rollback: Option<String>,
    console_url: String,
}

pub fn ecs(settings: &EcsSettings, run: &Run<'_>) -> Report {
    let outputs: EcsOutputs = run.outputs();
    let cluster = settings.cluster.rsplit('/').next().unwrap_or(&settings.cluster);
    let target = format!("{}/{}/{}", run.region, settings.cluster, settings.services.join(","));
    let failed = matches!(run.ended, Ended::Failed { .. });

    // Each service as the outputs say it ended; a service they do not name was not updated.
    let states: Vec<(String, String)> = settings
        .services
        .iter()
        .map(|name| {
            let state = match outputs.services.iter().find(|s| &s.name == name) {
                Some(service) => {
                    let mut state = service.state.clone();
                    if let Some(status) = &service.final_status {
                        state.push_str(&format!(" ({status})"));
                    }
                    state
                }
                None if failed => "NOT UPDATED".to_owned(),
                None => "UNCHANGED".to_owned(),
            };
            (name.clone(), state)
        })
        .collect();
    let result = if failed {
        Verdict::Failed
    } else if outputs.services.iter().any(|s| s.state == "IN_PROGRESS") {
        Verdict::Pending
    } else {
        Verdict::Passed
    };

    let revisions = distinct(
        outputs
            .services
            .iter()
            .filter_map(|s| s.task_definition_arn.as_deref())
            .chain(outputs.task_definition_arn.as_deref())
            .map(short_name),
    );
    let mut details = vec![format!("{}.", run.headline().trim_end_matches('.'))];
    for service in &outputs.services {
        let revision = service.task_definition_arn.as_deref().map(short_name);
        let mut line = format!(
            "{}: {}{}",
            service.name,
            revision.map(|r| format!("{r}, ")).unwrap_or_default(),
            service.state
        );
        if let Some(status) = &service.final_status {
            line.push_str(&format!(" ({status})"));
        }
        if let Some(rollback) = &service.rollback {
            line.push_str(&format!("; {rollback}"));
        }
        line.push_str(&format!(" — {}", service.console_url));
        details.push(line);
    }

    // The console of the first service that did not complete, else of the first service.
    let watched = outputs
        .services
        .iter()
        .find(|s| s.state != "COMPLETED")
        .or(outputs.services.first())
        .filter(|s| !s.console_url.is_empty());
    let cluster_url = format!(
        "https://{}/ecs/v2/clusters/{cluster}/services?region={}",
        console_host(run.partition),
        run.region
    );
    let (link_text, link) = match watched {
        Some(service) => (format!("{} deployments", service.name), service.console_url.clone()),
        None => (format!("{cluster} services"), cluster_url),
    };

    let mut data = vec![
        Datum::text(
            "Task definition",
            if revisions.is_empty() {
                "none registered".to_owned()
            } else {
                revisions.join(", ")
            },
        ),
        Datum::text("Cluster", format!("{cluster} ({})", run.region)),
    ];
    if !states.is_empty() {
        let states: Vec<String> = states.iter().map(|(name, state)| format!("{name}: {state}")).collect();
        data.push(Datum::text("Services", states.join(", ")));
    }
    data.push(Datum::duration("Duration", run.duration));
    data.push(Datum::link("Console", link_text, link.clone()));

    Report {
        id: report_id("ecs-deploy", &target),
        title: format!("ECS deploy to {cluster}"),
        details: details.join("\n"),
        report_type: ReportType::Test,
        result,
        link: Some(link),
        data,
        annotations: Vec::new(),
    }
}

/// `ACTION=rollback` of ECS services: the deployment's report (the same id, so it replaces it),
/// titled as a rollback.
pub fn ecs_rollback(settings: &EcsSettings, run: &Run<'_>) -> Report {
    let mut report = ecs(settings, run);
    let cluster = settings.cluster.rsplit('/').next().unwrap_or(&settings.cluster);
    report.title = format!("ECS rollback in {cluster}");
    report
}

/// `ACTION=rollback` of a Lambda alias: the deployment's report (the same id, so it replaces
/// it), titled as a rollback.
pub fn lambda_rollback(settings: &LambdaSettings, run: &Run<'_>) -> Report {
    let mut report = lambda(settings, run);
    report.title = report.title.replacen("Lambda deploy", "Lambda rollback", 1);
    report
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LambdaOutputs {
    function_arn: String,
    code_changed: bool,
    version: Option<String>,
    alias_arn: Option<String>,
    state: String,
    done: Vec<String>,
    not_done: Vec<String>,
}

pub fn lambda(settings: &LambdaSettings, run: &Run<'_>) -> Report {
    let outputs: LambdaOutputs = run.outputs();
    let reference = if outputs.function_arn.is_empty() {
        &settings.function
    } else {
        &outputs.function_arn
    };
    // `arn:...:function:name[:qualifier]`, `123456789012:function:name`, or the name.
    let name = match reference.split(':').collect::<Vec<_>>().as_slice() {
        [.., "function", name] | [.., "function", name, _] => (*name).to_owned(),
        _ => reference.clone(),
    };
    let target = format!("{}/{}", run.region, settings.function);
    let failed = matches!(run.ended, Ended::Failed { .. });
    let state = match (failed, outputs.state.as_str()) {
        (true, "") => "FAILED".to_owned(),
        (true, state) => format!("FAILED ({state})"),
        (false, "") => "DEPLOYED".to_owned(),
        (false, state) => state.to_owned(),
    };

    let mut details = vec![format!("{}.", run.headline().trim_end_matches('.'))];
    if !outputs.done.is_empty() {
        details.push(format!("Done: {}.", outputs.done.join("; ")));
    }
    if !outputs.not_done.is_empty() {
        details.push(format!("Not done: {}.", outputs.not_done.join("; ")));
    }

    let console = format!(
        "https://{}/lambda/home?region={}#/functions/{name}{}",
        console_host(run.partition),
        run.region,
        outputs
            .version
            .as_deref()
            .map(|version| format!("/versions/{version}?tab=code"))
            .unwrap_or_default()
    );
    let alias = outputs
        .alias_arn
        .as_deref()
        .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_owned())
        .or_else(|| settings.alias.clone().map(|alias| format!("{alias} (not moved)")));
    let mut data = vec![
        Datum::text("Function", format!("{name} ({})", run.region)),
        Datum::text(
            "Version",
            outputs.version.clone().unwrap_or_else(|| "none published".to_owned()),
        ),
    ];
    if let Some(alias) = alias {
        data.push(Datum::text("Alias", alias));
    }
    data.push(Datum::text(
        "State",
        if outputs.code_changed {
            format!("{state}, new code")
        } else {
            state
        },
    ));
    data.push(Datum::duration("Duration", run.duration));
    data.push(Datum::link("Console", name.clone(), console.clone()));

    Report {
        id: report_id("lambda-deploy", &target),
        title: format!("Lambda deploy of {name}"),
        details: details.join("\n"),
        report_type: ReportType::Test,
        result: if failed { Verdict::Failed } else { Verdict::Passed },
        link: Some(console),
        data,
        annotations: Vec::new(),
    }
}

fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::domain::insights::DatumValue;

    fn ecs_settings(services: &[&str]) -> EcsSettings {
        EcsSettings {
            cluster: "prod".into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            task_definition: crate::domain::ecs::TaskDefinitionSource::Current,
            images: Vec::new(),
            container_name: None,
            force_new_deployment: false,
            desired_count: None,
            run_task: None,
            on_timeout: crate::domain::ecs::WhenUnfinished::Fail,
            on_failure: crate::domain::ecs::WhenUnfinished::Fail,
            keep_revisions: None,
            codedeploy: Default::default(),
        }
    }

    fn run<'a>(ended: Ended<'a>, outputs: Option<&'a Value>) -> Run<'a> {
        Run {
            region: "eu-west-1",
            partition: "aws",
            duration: Duration::from_millis(1234),
            ended,
            outputs,
        }
    }

    fn datum<'a>(report: &'a Report, title: &str) -> &'a DatumValue {
        &report.data.iter().find(|d| d.title == title).unwrap().value
    }

    #[test]
    fn an_ecs_deploy_says_revision_states_duration_and_console() {
        let arn = "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:42";
        let outputs = json!({
            "task_definition_arn": arn,
            "services": [
                {"name": "web", "task_definition_arn": arn, "state": "COMPLETED", "final_status": "SUCCESSFUL",
                 "console_url": "https://console.aws.amazon.com/ecs/web"},
                {"name": "api", "task_definition_arn": arn, "state": "ROLLED_BACK",
                 "console_url": "https://console.aws.amazon.com/ecs/api"}
            ]
        });
        let settings = ecs_settings(&["web", "api"]);
        let report = ecs(
            &settings,
            &run(
                Ended::Failed {
                    summary: "1 of 2 deployments did not complete",
                },
                Some(&outputs),
            ),
        );
        assert_eq!(report.result, Verdict::Failed);
        assert_eq!(datum(&report, "Task definition"), &DatumValue::Text("web:42".into()));
        assert_eq!(
            datum(&report, "Services"),
            &DatumValue::Text("web: COMPLETED (SUCCESSFUL), api: ROLLED_BACK".into())
        );
        assert_eq!(
            datum(&report, "Duration"),
            &DatumValue::Duration(Duration::from_millis(1234))
        );
        assert_eq!(report.link.as_deref(), Some("https://console.aws.amazon.com/ecs/api"));
        assert!(
            report
                .details
                .starts_with("1 of 2 deployments did not complete.\nweb: web:42, COMPLETED")
        );
        let rollback = ecs_rollback(
            &settings,
            &run(
                Ended::Succeeded {
                    headline: "Rolled back",
                },
                None,
            ),
        );
        assert_eq!(
            (rollback.id.as_str(), rollback.title.as_str()),
            (report.id.as_str(), "ECS rollback in prod")
        );
        let again = ecs(&settings, &run(Ended::Succeeded { headline: "Deployed" }, None));
        assert_eq!(report.id, again.id, "one id per target, whatever the result");
        assert_eq!(again.result, Verdict::Passed);
    }

    #[test]
    fn an_ecs_deploy_not_waited_for_is_pending_and_a_failure_before_any_change_names_the_services() {
        let outputs = json!({"services": [{"name": "web", "state": "IN_PROGRESS", "console_url": ""}]});
        let settings = ecs_settings(&["web"]);
        let pending = ecs(
            &settings,
            &run(Ended::Succeeded { headline: "Started" }, Some(&outputs)),
        );
        assert_eq!(pending.result, Verdict::Pending);
        let refused = ecs(
            &settings,
            &run(
                Ended::Failed {
                    summary: "AccessDenied",
                },
                None,
            ),
        );
        assert_eq!(
            datum(&refused, "Services"),
            &DatumValue::Text("web: NOT UPDATED".into())
        );
        assert_eq!(
            datum(&refused, "Task definition"),
            &DatumValue::Text("none registered".into())
        );
        assert!(
            refused
                .link
                .unwrap()
                .contains("/clusters/prod/services?region=eu-west-1")
        );
    }

    #[test]
    fn a_lambda_deploy_says_version_alias_and_state() {
        let settings = LambdaSettings {
            function: "api".into(),
            code: None,
            configuration: None,
            configuration_notes: Vec::new(),
            publish: true,
            version_description: String::new(),
            alias: Some("live".into()),
            clear_alias_weights: false,
            traffic_shift: crate::domain::traffic_shift::TrafficShift::AllAtOnce,
            alarms: Vec::new(),
            shift_time_scale: 1,
            version: None,
            keep_versions: None,
        };
        let outputs = json!({
            "function_arn": "arn:aws:lambda:eu-west-1:111111111111:function:api",
            "code_changed": true, "version": "7",
            "alias_arn": "arn:aws:lambda:eu-west-1:111111111111:function:api:live",
            "state": "DEPLOYED", "done": [], "not_done": []
        });
        let report = lambda(
            &settings,
            &run(
                Ended::Succeeded {
                    headline: "Deployed api",
                },
                Some(&outputs),
            ),
        );
        assert_eq!(report.result, Verdict::Passed);
        assert_eq!(datum(&report, "Version"), &DatumValue::Text("7".into()));
        assert_eq!(datum(&report, "Alias"), &DatumValue::Text("live".into()));
        assert_eq!(datum(&report, "State"), &DatumValue::Text("DEPLOYED, new code".into()));
        assert!(
            report
                .link
                .as_deref()
                .unwrap()
                .ends_with("#/functions/api/versions/7?tab=code")
        );

        let failed = lambda(&settings, &run(Ended::Failed { summary: "refused" }, None));
        assert_eq!(failed.result, Verdict::Failed);
        assert_eq!(datum(&failed, "Alias"), &DatumValue::Text("live (not moved)".into()));
        assert_eq!(datum(&failed, "Version"), &DatumValue::Text("none published".into()));
        assert_eq!(failed.id, report.id);
    }
}
