//! The unknown-variable check: near misses, Atlassian's names, what is left alone.

use super::Ours::{Renamed, Same};
use super::*;
use crate::error::Problem;

fn refused(pairs: &[(&str, &str)]) -> Vec<Problem> {
    let env = Env::from_pairs(pairs.iter().copied());
    let mut read = Reader::new(&env);
    check(&mut read, &env);
    read.problems
}

fn suggestion(name: &str) -> String {
    let problems = refused(&[(name, "x")]);
    assert_eq!(problems.len(), 1, "{name}: {problems:?}");
    assert_eq!(problems[0].variable, name);
    problems[0].message.clone()
}

#[test]
fn near_misses_name_the_variable_meant() {
    for (typo, meant) in [
        ("DRYRUN", "DRY_RUN"),
        ("dry_run", "DRY_RUN"),
        ("Dry_Run", "DRY_RUN"),
        ("WAIT_TIMOUT", "WAIT_TIMEOUT"),
        ("SERVICE_NAMES", "SERVICE_NAME"),
        ("AWS_DEFAULT_REGOIN", "AWS_DEFAULT_REGION"),
        ("AWS_OIDC_ROLE", "AWS_OIDC_ROLE_ARN"),
        ("TAG", "TAGS"),
        ("IMAGE_URL", "IMAGE_URI"),
        ("CLUSTER", "CLUSTER_NAME"),
        ("FUNCTION", "FUNCTION_NAME"),
        ("BUCKET", "S3_BUCKET"),
        ("REPOSITORY", "ECR_REPOSITORY"),
        ("FUNCTION_CONFIG", "FUNCTION_CONFIGURATION"),
        ("ECR_REPO", "ECR_REPOSITORY"),
        ("WAIT_TIME", "WAIT_TIMEOUT"),
        ("FORCE_NEW_DEPLOYEMENT", "FORCE_NEW_DEPLOYMENT"),
        ("ALLOWED_ACCOUNTS_IDS", "ALLOWED_ACCOUNT_IDS"),
    ] {
        let message = suggestion(typo);
        assert!(message.contains(&format!("did you mean {meant}")), "{typo}: {message}");
    }
    // Two names fit as well: both are offered.
    let message = suggestion("REGION");
    assert!(message.contains("AWS_DEFAULT_REGION or AWS_REGION"), "{message}");
}

#[test]
fn a_list_is_judged_by_its_name_once() {
    let problems = refused(&[
        ("SERVICE_NAMES_COUNT", "2"),
        ("SERVICE_NAMES_0", "a"),
        ("SERVICE_NAMES_1", "b"),
    ]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].variable, "SERVICE_NAMES");
    assert!(problems[0].message.contains("SERVICE_NAME?"));
    assert!(refused(&[("TAGS_COUNT", "1"), ("TAGS_0", "v1")]).is_empty());
}

#[test]
fn atlassian_names_name_ours() {
    let message = suggestion("PUBLISH_FLAG");
    assert!(
        message.contains("aws-lambda-deploy") && message.contains("rename it to PUBLISH"),
        "{message}"
    );
    let message = suggestion("COMMAND");
    assert!(message.contains("ACTION: \"lambda-deploy\""), "{message}");
    let problems = refused(&[("COMMAND", "alias")]);
    assert!(problems[0].message.contains("with ALIAS"), "{problems:?}");
    assert!(suggestion("WAIT_INTERVAL").contains("no equivalent"));
    for theirs in ATLASSIAN {
        match theirs.ours {
            Same => assert!(
                vars::ALL.iter().any(|var| var.name == theirs.name),
                "{} is said to be shared",
                theirs.name
            ),
            Renamed(ours) => assert!(vars::ALL.iter().any(|var| var.name == ours), "{ours}"),
            _ => assert!(vars::ALL.iter().all(|var| var.name != theirs.name), "{}", theirs.name),
        }
    }
}

#[test]
fn in_a_step_of_another_action_their_names_are_placeholders_nothing_reads() {
    let problems = refused(&[("ACTION", "ecs-deploy"), ("COMMAND", "migrate")]);
    assert!(problems[0].message.contains("RUN_TASK_COMMAND"), "{problems:?}");
    let problems = refused(&[("ACTION", "ECS-DEPLOY"), ("WAIT_INTERVAL", "10")]);
    assert!(
        problems[0].message.contains("${WAIT_INTERVAL} placeholder"),
        "{problems:?}"
    );
    assert!(!problems[0].message.contains("backoff"), "{problems:?}");
    // A renamed one is still named: it can only mean ours.
    let problems = refused(&[("ACTION", "ecs-deploy"), ("PUBLISH_FLAG", "false")]);
    assert!(problems[0].message.contains("rename it to PUBLISH"), "{problems:?}");
    let problems = refused(&[("ACTION", "lambda-deploy"), ("WAIT_INTERVAL", "3")]);
    assert!(problems[0].message.contains("backoff"), "{problems:?}");
}

#[test]
fn what_the_runtime_provides_is_never_refused() {
    let provided = [
        "PATH",
        "HOME",
        "HOSTNAME",
        "CI",
        "BITBUCKET_BUILD_NUMBER",
        "BITBUCKET_STEP_OIDC_TOKEN",
        "BITBUCKET_DOCKER_HOST_INTERNAL",
        "PIPELINES_JWT_TOKEN",
        "http_proxy",
        "Https_Proxy",
        "no_proxy",
        "ALL_PROXY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_SSM",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "DOCKER_HOST",
        "LANG",
        "LC_ALL",
        "container",
    ];
    let pairs: Vec<(&str, &str)> = provided.iter().map(|name| (*name, "x")).collect();
    assert_eq!(refused(&pairs), Vec::new());
}

#[test]
fn names_read_elsewhere_or_unlike_ours_are_left_alone() {
    // A placeholder of a task definition: read, so meant.
    let env = Env::from_pairs([("COMMAND", "1.2"), ("DRYRUN", "true")]);
    env.value("COMMAND");
    env.value("DRYRUN");
    let mut read = Reader::new(&env);
    check(&mut read, &env);
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    // Names close to none of ours, or to too many.
    for name in [
        "APP_NAME",
        "ENVIRONMENT",
        "IMAGE_TAG",
        "NAME",
        "KEY",
        "MY_SECRET",
        "ENDPOINT",
        "TIMEOUT",
        "PORT",
        "STAGE",
        "DATABASE_URL",
    ] {
        assert_eq!(refused(&[(name, "x")]), Vec::new(), "{name}");
    }
}

#[test]
fn missing_action_points_to_the_one_meant() {
    let hint = |pairs: &[(&str, &str)]| missing_action(&Env::from_pairs(pairs.iter().copied()));
    assert!(hint(&[("CLUSTER_NAME", "c")]).contains("ACTION: \"ecs-deploy\""));
    assert!(hint(&[("FUNCTION_NAME", "f")]).contains("ACTION: \"lambda-deploy\""));
    assert!(hint(&[("IMAGE_NAME", "app")]).contains("ACTION: \"ecr-push\""));
    assert!(hint(&[("IMAGE_ARCHIVE", "app.tar")]).contains("ACTION: \"ecr-push\""));
    assert!(hint(&[("COMMAND", "update")]).contains("ACTION: \"lambda-deploy\""));
    assert!(hint(&[("POLICY_ACTIONS", "ecs-deploy"), ("CLUSTER_NAME", "c")]).contains("\"trust-policy\""));
    let both = hint(&[("CLUSTER_NAME", "c"), ("FUNCTION_NAME", "f")]);
    assert!(
        both.contains("CLUSTER_NAME to \"ecs-deploy\"") && both.contains("FUNCTION_NAME to \"lambda-deploy\""),
        "{both}"
    );
    assert_eq!(hint(&[]), "is required, e.g. ACTION: \"assume-role\"");
}

/// Every name the sources read from the environment by a literal is declared in `vars` or
/// provided by the runtime, so that the check can never refuse a name the pipe reads.
#[test]
fn every_name_the_code_reads_is_declared_or_provided() {
    fn sources(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut reads = 0;
    for (path, text) in &files {
        for call in ["value(\"", "peek(\"", "var(\"", "var_os(\"", "list(\""] {
            for (at, _) in text.match_indices(call) {
                let rest = &text[at + call.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    || path.contains("/config/unknown/")
                {
                    continue;
                }
                reads += 1;
                assert!(
                    vars::ALL.iter().any(|var| var.name == name) || is_provided(name),
                    "{path} reads {name}, which src/vars.rs does not declare: the unknown-variable check \
                     would refuse it as a near miss when it looks like one of ours"
                );
            }
        }
    }
    assert!(reads >= 3, "the scan found {reads} reads: it no longer recognises them");
}

#[test]
fn edit_distance_counts_slips() {
    assert_eq!(edit_distance("DRY_RUN", "DRY_RUN"), 0);
    assert_eq!(edit_distance("WAIT_TIMOUT", "WAIT_TIMEOUT"), 1);
    assert_eq!(edit_distance("REGOIN", "REGION"), 1);
    assert_eq!(edit_distance("", "ABC"), 3);
}
