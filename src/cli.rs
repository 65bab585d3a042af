//! `aws-role-deploy trust-policy ...`: the one place where command-line arguments are used
//! instead of the environment, to generate the AWS side before the first pipeline runs.
//! Parsed by hand: an argument parser would cost image size for one subcommand.

use crate::domain::arn::{PARTITIONS, is_account_id, partition_of_region};
use crate::domain::onboarding::checks;
use crate::domain::onboarding::scope::{BitbucketUuid, Scope, check_workspace_slug, default_audience};
use crate::domain::onboarding::{
    ChainedSetup, CodeDeployNames, DEFAULT_CHAINED_ROLE_NAME, DEFAULT_ROLE_NAME, DeployAction, Format, Resources, Setup,
};
use crate::domain::sts::is_external_id;

pub const HELP: &str = "\
aws-role-deploy trust-policy: print the AWS side of keyless deploys from Bitbucket Pipelines

  (a) the IAM OpenID Connect identity provider of the workspace,
  (b) a role trust policy admitting one repository, or one deployment environment of it,
  (c) the least permissions for the deploy actions you name,
  (d) with --chained-role-account, the second role's trust policy and permissions,
  (e) with --format cloudformation|terraform, the same as a template ready to apply.

USAGE
  aws-role-deploy trust-policy --workspace <slug> --workspace-uuid <uuid> --repository-uuid <uuid> [OPTIONS]

WHO MAY ASSUME THE ROLE
  --workspace <slug>             workspace slug, as in bitbucket.org/<slug>/ (in the issuer URL)
  --workspace-uuid <uuid>        Repository settings > OpenID Connect shows it; braces optional
  --repository-uuid <uuid>       required: a role admitting a whole workspace is never generated
  --environment-uuid <uuid>      admit only this deployment environment (recommended for production:
                                 restrict the environment to a branch in Bitbucket; AWS cannot see branches)
  --audience <aud>               default ari:cloud:bitbucket::workspace/<workspace uuid>
  --thumbprint <40 hex>          the provider's certificate thumbprint (CloudFormation needs one; see
                                 the notes for how to compute it)

WHERE
  --account <12 digits>          the role's account (default: a placeholder / the stack's own account)
  --region <region>              narrows resource ARNs (default: any region); sets the partition
  --partition <aws|aws-cn|aws-us-gov|aws-eusc>
  --role-name <name>             default bitbucket-deploy

WHAT THE ROLE MAY DO
  --actions <list>               ecs-deploy, ecr-push, lambda-deploy (comma- or space-separated)
  --cluster <name>  --services <list>             ecs-deploy: services the role may update
  --task-role-arn <arn>  --execution-role-arn <arn>  ecs-deploy: the only roles iam:PassRole allows
  --infrastructure-role-arn <arn>                 ecs-deploy: a service's ECS infrastructure role (EBS
                                                  volumes), passed to ecs.amazonaws.com
  --function <name or arn>                        lambda-deploy
  --function-role-arn <arn>                       lambda-deploy: the Role FUNCTION_CONFIGURATION sets
  --s3-bucket <name>                              lambda-deploy with S3_BUCKET: put and read the package
  --s3-bucket-owner <12 digits>                   its account (S3_BUCKET_OWNER; default: the role's)
  --keep-revisions                                ecs-deploy with KEEP_REVISIONS: deregister old revisions
  --codedeploy                                    ecs-deploy to CODE_DEPLOY (blue/green) services: their
                                                  CodeDeploy deployments (AppECS-/DgpECS-<cluster>-<service>)
  --codedeploy-application <name>  --codedeploy-deployment-group <name>
                                                  other names (CODEDEPLOY_APPLICATION, _DEPLOYMENT_GROUP)
  --keep-versions                                 lambda-deploy with KEEP_VERSIONS: delete old versions
  --lambda-alarms                                 lambda-deploy with ALARMS: read them (DescribeAlarms)
  --ecr-repository <list>  --ecr-create-repository  ecr-push
  --registry-id <12 digits>                       the repositories' registry (REGISTRY_ID)
  --ecr-scan                                      ecr-push with SCAN_FAIL_ON: read (and start) scans

Names are written into policies as given: wildcards (* ?) and ${ or %{ are refused.

ROLE CHAINING
  --chained-role-account <12 digits>  a second role, in that account, admitting only the first one
  --chained-role-name <name>     default bitbucket-deploy-target
  --external-id <value>          the ExternalId its trust policy demands. A secret: prefer setting
                                 AWS_EXTERNAL_ID in the environment over the command line. It is written
                                 into the JSON output (that is the point); CloudFormation and Terraform
                                 take it as a hidden parameter / sensitive variable instead.
  --no-session-tags              the pipe runs with AWS_SESSION_TAGS: \"false\" (no sts:TagSession)

OUTPUT
  --format <json|cloudformation|terraform>   default json; notes go to stderr
  -h, --help
";

/// What the command was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Generate {
        setup: Box<Setup>,
        format: Format,
        /// Only when given (`--external-id` or `AWS_EXTERNAL_ID`), and only for the JSON output.
        external_id: Option<String>,
    },
}

/// Parse `trust-policy` and its options. `env_external_id`: `AWS_EXTERNAL_ID`, if set.
/// Every problem is reported at once, as for the pipe's variables.
pub fn parse(args: &[String], env_external_id: Option<&str>) -> Result<Command, Vec<String>> {
    let mut rest = args.iter();
    match rest.next().map(String::as_str) {
        Some("trust-policy") => {}
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some(other) => {
            return Err(vec![format!(
                "unknown command {other:?}: the only command is `trust-policy` (the pipe itself reads its environment, not arguments)"
            )]);
        }
        None => return Ok(Command::Help),
    }
    let mut options: Vec<(String, String)> = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    let rest: Vec<&String> = rest.collect();
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].as_str();
        i += 1;
        match arg {
            "-h" | "--help" => return Ok(Command::Help),
            "--no-session-tags"
            | "--ecr-create-repository"
            | "--ecr-scan"
            | "--lambda-alarms"
            | "--keep-revisions"
            | "--codedeploy"
            | "--keep-versions" => flags.push(arg.to_owned()),
            _ if arg.starts_with("--") => {
                let (name, value) = match arg.split_once('=') {
                    Some((name, value)) => (name.to_owned(), value.to_owned()),
                    None if i < rest.len() && !rest[i].starts_with("--") => {
                        i += 1;
                        (arg.to_owned(), rest[i - 1].clone())
                    }
                    None => {
                        problems.push(format!("{arg} needs a value"));
                        continue;
                    }
                };
                if !KNOWN.contains(&name.as_str()) {
                    problems.push(format!("unknown option {name} (see --help)"));
                } else if options.iter().any(|(seen, _)| *seen == name) && !REPEATABLE.contains(&name.as_str()) {
                    problems.push(format!("{name} is given twice"));
                } else {
                    options.push((name, value));
                }
            }
            _ => problems.push(format!("unexpected argument {arg:?} (options start with --)")),
        }
    }
    let get = |name: &str| {
        options
            .iter()
            .find(|(seen, _)| seen == name)
            .map(|(_, value)| value.as_str())
    };
    let all = |name: &str| -> Vec<String> {
        options
            .iter()
            .filter(|(seen, _)| seen == name)
            .flat_map(|(_, value)| value.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut uuid = |name: &str, required: bool| match get(name) {
        Some(value) => BitbucketUuid::parse(value)
            .map_err(|message| problems.push(format!("{name} {message}")))
            .ok(),
        None if required => {
            problems.push(match name {
                "--repository-uuid" => {
                    "--repository-uuid is required: a trust policy without a repository would admit \
                    every repository of the workspace, which this command never generates"
                        .to_owned()
                }
                _ => format!("{name} is required"),
            });
            None
        }
        None => None,
    };
    let workspace_uuid = uuid("--workspace-uuid", true);
    let repository_uuid = uuid("--repository-uuid", true);
    let environment_uuid = uuid("--environment-uuid", false);
    let workspace = match get("--workspace") {
        Some(value) => check_workspace_slug(value)
            .map_err(|message| problems.push(format!("--workspace {message}")))
            .ok(),
        None => {
            problems.push("--workspace is required (the workspace's slug)".to_owned());
            None
        }
    };
    let account = get("--account").and_then(|value| {
        if is_account_id(value) {
            Some(value.to_owned())
        } else {
            problems.push(format!("--account must be 12 digits, got {value:?}"));
            None
        }
    });
    let region = get("--region").map(str::to_owned);
    let partition = match (get("--partition"), &region) {
        (Some(partition), Some(region))
            if PARTITIONS.contains(&partition) && partition_of_region(region) != partition =>
        {
            problems.push(format!(
                "--partition {partition} does not hold --region {region} (its partition is {}): every ARN is \
                 written in the region's partition, so give a region of {partition} or leave --partition out",
                partition_of_region(region)
            ));
            partition.to_owned()
        }
        (Some(partition), _) if PARTITIONS.contains(&partition) => partition.to_owned(),
        (Some(partition), _) => {
            problems.push(format!(
                "--partition must be one of {}, got {partition:?}",
                PARTITIONS.join(", ")
            ));
            "aws".to_owned()
        }
        (None, Some(region)) => partition_of_region(region).to_owned(),
        (None, None) => "aws".to_owned(),
    };
    let role_name = |name: &str, default: &str, problems: &mut Vec<String>| {
        let value = get(name).unwrap_or(default).to_owned();
        let ok = (1..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !ok {
            problems.push(format!(
                "{name} must be 1-64 characters of [A-Za-z0-9+=,.@_-], got {value:?}"
            ));
        }
        value
    };
    let first_role = role_name("--role-name", DEFAULT_ROLE_NAME, &mut problems);
    let actions = DeployAction::parse_list(&all("--actions").join(","))
        .map_err(|message| problems.push(format!("--actions: {message}")))
        .unwrap_or_default();
    let external_id = get("--external-id").or(env_external_id).map(str::to_owned);
    if let Some(value) = &external_id
        && !is_external_id(value)
    {
        // Never quoted back: it is a secret.
        problems.push("--external-id (or AWS_EXTERNAL_ID) must be 2-1224 characters of [\\w+=,.@:/-]".to_owned());
    }
    let chained = match get("--chained-role-account") {
        Some(account) if is_account_id(account) => Some(ChainedSetup {
            account: account.to_owned(),
            role_name: role_name("--chained-role-name", DEFAULT_CHAINED_ROLE_NAME, &mut problems),
            external_id: external_id.is_some(),
        }),
        Some(account) => {
            problems.push(format!("--chained-role-account must be 12 digits, got {account:?}"));
            None
        }
        None => {
            if get("--external-id").is_some() || get("--chained-role-name").is_some() {
                problems.push(
                    "--external-id and --chained-role-name belong to the chained role: add --chained-role-account"
                        .to_owned(),
                );
            }
            None
        }
    };
    let mut pass_roles = all("--task-role-arn");
    pass_roles.extend(all("--execution-role-arn"));
    let infrastructure_roles = all("--infrastructure-role-arn");
    let function_role = get("--function-role-arn").map(str::to_owned);
    // The deploy permissions live in the chained role's account when there is one.
    let deploy_account = chained.as_ref().map(|c| c.account.as_str()).or(account.as_deref());
    let passed = pass_roles
        .iter()
        .map(|arn| ("--task-role-arn / --execution-role-arn", arn))
        .chain(
            infrastructure_roles
                .iter()
                .map(|arn| ("--infrastructure-role-arn", arn)),
        )
        .chain(function_role.iter().map(|arn| ("--function-role-arn", arn)));
    for (option, arn) in passed {
        if !arn.starts_with("arn:") || !arn.contains(":role/") {
            problems.push(format!("{option} must be IAM role ARNs, got {arn:?}"));
        } else if let Some(problem) = pass_role_account_problem(option, arn, deploy_account) {
            problems.push(problem);
        }
    }
    let provider_thumbprint = get("--thumbprint").and_then(|value| {
        if value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Some(value.to_ascii_lowercase())
        } else {
            problems.push(format!(
                "--thumbprint must be 40 hexadecimal digits (a SHA-1), got {value:?}"
            ));
            None
        }
    });
    let mut account_id = |option: &str| {
        get(option).and_then(|value| {
            if is_account_id(value) {
                Some(value.to_owned())
            } else {
                problems.push(format!("{option} must be an AWS account id (12 digits), got {value:?}"));
                None
            }
        })
    };
    let ecr_registry = account_id("--registry-id");
    let s3_bucket_owner = account_id("--s3-bucket-owner");
    if s3_bucket_owner.is_some() && get("--s3-bucket").is_none() {
        problems.push("--s3-bucket-owner needs --s3-bucket".to_owned());
    }
    if !all("--services").is_empty() && get("--cluster").is_none() {
        problems.push("--services needs --cluster".to_owned());
    }
    let format = match get("--format") {
        Some(value) => Format::parse(value)
            .map_err(|message| problems.push(format!("--format {message}")))
            .unwrap_or(Format::Json),
        None => Format::Json,
    };
    let (Some(workspace), Some(workspace_uuid), Some(repository_uuid)) = (workspace, workspace_uuid, repository_uuid)
    else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let audience = get("--audience")
        .map(str::to_owned)
        .unwrap_or_else(|| default_audience(&workspace_uuid));
    let setup = Setup {
        scope: Scope {
            workspace,
            workspace_uuid,
            repository_uuid,
            environment_uuid,
            audience,
        },
        partition,
        account,
        role_name: first_role,
        actions,
        chained,
        session_tags: !flags.iter().any(|flag| flag == "--no-session-tags"),
        resources: Resources {
            region,
            cluster: get("--cluster").map(str::to_owned),
            services: all("--services"),
            function: get("--function").map(str::to_owned),
            s3_bucket: get("--s3-bucket").map(str::to_owned),
            s3_bucket_owner,
            function_role,
            ecr_repositories: all("--ecr-repository"),
            ecr_registry,
            ecr_create_repository: flags.iter().any(|flag| flag == "--ecr-create-repository"),
            ecr_scan: flags.iter().any(|flag| flag == "--ecr-scan"),
            lambda_alarms: flags.iter().any(|flag| flag == "--lambda-alarms"),
            pass_roles,
            infrastructure_roles,
            keep_revisions: flags.iter().any(|flag| flag == "--keep-revisions"),
            codedeploy: (flags.iter().any(|flag| flag == "--codedeploy")
                || get("--codedeploy-application").is_some()
                || get("--codedeploy-deployment-group").is_some())
            .then(|| CodeDeployNames {
                application: get("--codedeploy-application").map(str::to_owned),
                deployment_group: get("--codedeploy-deployment-group").map(str::to_owned),
            }),
            keep_versions: flags.iter().any(|flag| flag == "--keep-versions"),
        },
        provider_thumbprint,
    };
    let refused: Vec<String> = checks::check(&setup)
        .into_iter()
        .map(|problem| format!("{} {}", problem.field.option(), problem.message))
        .collect();
    if !refused.is_empty() {
        return Err(refused);
    }
    Ok(Command::Generate {
        setup: Box::new(setup),
        format,
        external_id,
    })
}

/// IAM passes a role only to a service of the role's own account (AWS answers "Cross-account
/// pass role is not allowed"): a task role of another account than the deploying role's can
/// never be used, whatever the policy grants.
fn pass_role_account_problem(option: &str, arn: &str, deploy_account: Option<&str>) -> Option<String> {
    let deploy_account = deploy_account?;
    let role_account = arn.split(':').nth(4).filter(|account| !account.is_empty())?;
    (role_account != deploy_account).then(|| {
        format!(
            "{option} {arn} is in account {role_account}, but the deploy runs in account {deploy_account}: IAM passes a \
             role only to services of its own account (\"Cross-account pass role is not allowed\"); give roles of \
             account {deploy_account}"
        )
    })
}

const KNOWN: &[&str] = &[
    "--workspace",
    "--workspace-uuid",
    "--repository-uuid",
    "--environment-uuid",
    "--audience",
    "--thumbprint",
    "--account",
    "--region",
    "--partition",
    "--role-name",
    "--actions",
    "--cluster",
    "--services",
    "--codedeploy-application",
    "--codedeploy-deployment-group",
    "--task-role-arn",
    "--execution-role-arn",
    "--infrastructure-role-arn",
    "--function",
    "--function-role-arn",
    "--s3-bucket",
    "--s3-bucket-owner",
    "--ecr-repository",
    "--registry-id",
    "--chained-role-account",
    "--chained-role-name",
    "--external-id",
    "--format",
];

const REPEATABLE: &[&str] = &[
    "--actions",
    "--services",
    "--task-role-arn",
    "--execution-role-arn",
    "--infrastructure-role-arn",
    "--ecr-repository",
];

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "0a1b2c3d-0000-4000-8000-000000000001";
    const REPO: &str = "{0a1b2c3d-0000-4000-8000-000000000002}";

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn generate(text: &str) -> Setup {
        match parse(&args(text), None) {
            Ok(Command::Generate { setup, .. }) => *setup,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn minimal_command() {
        let setup = generate(&format!(
            "trust-policy --workspace acme --workspace-uuid {WS} --repository-uuid={REPO}"
        ));
        assert_eq!(setup.scope.audience, format!("ari:cloud:bitbucket::workspace/{WS}"));
        assert_eq!(setup.scope.sub_pattern(), format!("{REPO}:*"));
        assert_eq!(setup.partition, "aws");
        assert!(setup.chained.is_none() && setup.actions.is_empty() && setup.session_tags);
    }

    #[test]
    fn help_and_refusals() {
        assert_eq!(parse(&args("--help"), None), Ok(Command::Help));
        assert_eq!(parse(&args("trust-policy -h"), None), Ok(Command::Help));
        let problems = parse(
            &args(&format!("trust-policy --workspace acme --workspace-uuid {WS}")),
            None,
        )
        .unwrap_err();
        assert!(problems[0].contains("never generates"), "{problems:?}");
        let problems = parse(
            &args(&format!(
                "trust-policy --workspace acme --workspace-uuid {WS} --repository-uuid {REPO} --external-id sekret-value --actions ecs,x --bogus 1"
            )),
            None,
        )
        .unwrap_err();
        let text = problems.join("\n");
        assert!(
            text.contains("add --chained-role-account") && text.contains("--actions") && text.contains("--bogus"),
            "{text}"
        );
        assert!(!text.contains("sekret-value"), "{text}");
        assert!(parse(&args("deploy"), None).is_err());
    }

    #[test]
    fn task_roles_of_another_account_than_the_deploy_are_refused() {
        let base = format!(
            "trust-policy --workspace acme --workspace-uuid {WS} --repository-uuid {REPO} --actions ecs-deploy"
        );
        // Chained: the deploy runs in 222222222222, so the first account's roles cannot be passed.
        let problems = parse(
            &args(&format!(
                "{base} --account 111111111111 --chained-role-account 222222222222 \
                 --task-role-arn arn:aws:iam::111111111111:role/web-task"
            )),
            None,
        )
        .unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("Cross-account pass role")),
            "{problems:?}"
        );
        // The deploy account's own roles are fine; without --account nothing is known to differ.
        generate(&format!(
            "{base} --account 111111111111 --chained-role-account 222222222222 \
             --task-role-arn arn:aws:iam::222222222222:role/web-task"
        ));
        generate(&format!(
            "{base} --task-role-arn arn:aws:iam::333333333333:role/web-task"
        ));
    }

    #[test]
    fn full_command() {
        let parsed = parse(
            &args(&format!(
                "trust-policy --workspace acme --workspace-uuid {WS} --repository-uuid {REPO} --environment-uuid {WS} \
                 --account 111111111111 --region cn-north-1 --actions ecs-deploy,lambda-deploy --actions ecr-push \
                 --cluster prod --services web,worker --task-role-arn arn:aws-cn:iam::222222222222:role/t \
                 --chained-role-account 222222222222 --no-session-tags --format terraform"
            )),
            Some("from-the-environment"),
        )
        .unwrap();
        let Command::Generate {
            setup,
            format,
            external_id,
        } = parsed
        else {
            panic!()
        };
        assert_eq!(format, Format::Terraform);
        assert_eq!(external_id.as_deref(), Some("from-the-environment"));
        assert_eq!(setup.partition, "aws-cn");
        assert_eq!(setup.actions.len(), 3);
        assert_eq!(setup.resources.services, ["web", "worker"]);
        assert!(!setup.session_tags);
        assert!(setup.chained.unwrap().external_id);
    }
}
