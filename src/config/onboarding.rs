//! `ACTION: trust-policy` as a pipe step: the workspace, repository and deployment environment
//! come from the step's OIDC token (decoded, not verified: nothing is trusted on its word here,
//! it only fills in a document) and Bitbucket's variables; the role ARNs, if set, name the
//! accounts and roles; `POLICY_ACTIONS` and the deploy variables shape the permissions.

use super::Env;
use super::env::bitbucket_context;
use super::files::load_json_document;
use super::reader::{Reader, is_region};
use crate::domain::arn::{RoleArn, is_account_id, partition_of_region};
use crate::domain::onboarding::checks;
use crate::domain::onboarding::scope::{BitbucketUuid, Scope, check_workspace_slug, default_audience};
use crate::domain::onboarding::{
    ChainedSetup, CodeDeployNames, DEFAULT_CHAINED_ROLE_NAME, DEFAULT_ROLE_NAME, DeployAction, Format, Resources, Setup,
};
use crate::domain::token::TokenClaims;
use crate::error::{Error, Problem};
use crate::vars;

/// Whether the environment asks for `ACTION: trust-policy`, which needs neither a region nor
/// credentials, and so is read apart from `Config`.
pub fn asks_for_trust_policy(env: &Env) -> bool {
    env.value(vars::ACTION.name)
        .is_some_and(|action| action.eq_ignore_ascii_case("trust-policy"))
}

pub struct TrustPolicyStep {
    pub setup: Setup,
    pub format: Format,
    pub debug: bool,
}

pub fn read(env: &Env) -> Result<TrustPolicyStep, Error> {
    let mut read = Reader::new(env);
    let context = bitbucket_context(env).unwrap_or_default();
    let claims = context
        .step_oidc_token
        .as_ref()
        .and_then(|token| TokenClaims::decode(token.expose()).ok());

    // From the token when there is one (it is what STS will see), else from Bitbucket's variables.
    let from_token = claims.as_ref().map(token_scope).unwrap_or_default();
    let workspace = from_token.workspace.or(context.workspace.clone());
    let workspace_uuid = from_token.workspace_uuid.or(context.repo_owner_uuid.clone());
    let repository_uuid = from_token.repository_uuid.or(context.repo_uuid.clone());
    let environment_uuid = if claims.is_some() {
        from_token.environment_uuid
    } else {
        context.deployment_environment_uuid.clone()
    };

    let mut uuid = |value: Option<String>, what: &str| -> Option<BitbucketUuid> {
        match value {
            Some(value) => BitbucketUuid::parse(&value)
                .map_err(|message| read.problem(what, message))
                .ok(),
            None => {
                read.problem(
                    what,
                    "is unknown: add `oidc: true` to the step (the token names the workspace, repository and \
                     environment), or run the command line `aws-role-deploy trust-policy --help` outside Bitbucket",
                );
                None
            }
        }
    };
    let workspace_uuid = uuid(workspace_uuid, "BITBUCKET_REPO_OWNER_UUID");
    let repository_uuid = uuid(repository_uuid, "BITBUCKET_REPO_UUID");
    // A deployment step's environment narrows the role to it: a value that is not a UUID is a
    // problem, never a reason to fall back to the wider repository scope.
    let environment_uuid = environment_uuid.and_then(|value| {
        BitbucketUuid::parse(&value)
            .map_err(|message| {
                read.problem(
                    "BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID",
                    format!("the deployment environment (from the step's token, else this variable) {message}"),
                )
            })
            .ok()
    });
    let workspace = match workspace {
        Some(slug) => check_workspace_slug(&slug)
            .map_err(|message| read.problem("BITBUCKET_WORKSPACE", message))
            .ok(),
        None => {
            read.problem("BITBUCKET_WORKSPACE", "is unknown: add `oidc: true` to the step");
            None
        }
    };
    let audience = from_token.audience;

    let region = read
        .raw(&vars::AWS_DEFAULT_REGION)
        .or(read.raw(&vars::AWS_REGION))
        .filter(|region| is_region(region))
        .map(str::to_owned);
    let oidc_role = read.role_arn(&vars::AWS_OIDC_ROLE_ARN);
    let chained_role = read.role_arn(&vars::AWS_ROLE_ARN);
    // Only whether there is one: the value is a secret and is never written by the pipe.
    let external_id = read.raw(&vars::AWS_EXTERNAL_ID).is_some();
    let session_tags = read.bool(&vars::AWS_SESSION_TAGS);
    let debug = read.bool(&vars::DEBUG);
    let actions = match read.raw(&vars::POLICY_ACTIONS) {
        Some(value) => DeployAction::parse_list(value)
            .map_err(|message| read.problem(vars::POLICY_ACTIONS.name, message))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let format = match read.raw(&vars::POLICY_FORMAT) {
        Some(value) => Format::parse(value)
            .map_err(|message| read.problem(vars::POLICY_FORMAT.name, message))
            .unwrap_or(Format::Json),
        None => Format::Json,
    };
    let services = read.list(&vars::SERVICE_NAME);
    let cluster = read.text(&vars::CLUSTER_NAME);
    let function = read.text(&vars::FUNCTION_NAME);
    let ecr_repositories: Vec<String> = read.text(&vars::ECR_REPOSITORY).into_iter().collect();
    let ecr_create_repository = read.bool(&vars::CREATE_REPOSITORY);
    let ecr_scan = read.text(&vars::SCAN_FAIL_ON).is_some();
    let lambda_alarms = read.text(&vars::ALARMS).is_some();
    let ecr_registry = account_id(&mut read, &vars::REGISTRY_ID);
    let s3_bucket = read.text(&vars::S3_BUCKET);
    let s3_bucket_owner = account_id(&mut read, &vars::S3_BUCKET_OWNER);
    let function_role = read.raw(&vars::FUNCTION_CONFIGURATION).and_then(|value| {
        let work_dir = context
            .clone_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| std::path::PathBuf::from("/"));
        function_role(env, &work_dir, value)
            .map_err(|message| read.problem(vars::FUNCTION_CONFIGURATION.name, message))
            .ok()
            .flatten()
    });
    if let (Some(region), Some(role)) = (&region, &oidc_role)
        && partition_of_region(region) != role.partition
    {
        read.problem(
            vars::AWS_OIDC_ROLE_ARN.name,
            format!(
                "is in partition {}, but AWS_DEFAULT_REGION {region} is in {}: the generated ARNs use the region's \
                 partition",
                role.partition,
                partition_of_region(region)
            ),
        );
    }

    super::unknown::check(&mut read, env);
    let (Some(workspace), Some(workspace_uuid), Some(repository_uuid)) = (workspace, workspace_uuid, repository_uuid)
    else {
        return Err(Error::Validation(read.problems));
    };
    if !read.problems.is_empty() {
        return Err(Error::Validation(read.problems));
    }
    // The region's partition when there is a region (the role's agrees, or was refused above).
    let partition = region
        .as_deref()
        .map(|region| partition_of_region(region).to_owned())
        .or_else(|| oidc_role.as_ref().map(|role| role.partition.clone()))
        .unwrap_or_else(|| "aws".to_owned());
    let setup = Setup {
        scope: Scope {
            audience: audience.unwrap_or_else(|| default_audience(&workspace_uuid)),
            workspace,
            workspace_uuid,
            repository_uuid,
            environment_uuid,
        },
        partition,
        account: oidc_role.as_ref().map(|role| role.account.clone()),
        role_name: oidc_role
            .as_ref()
            .map(|role| role.name.clone())
            .unwrap_or_else(|| DEFAULT_ROLE_NAME.to_owned()),
        actions,
        chained: chained_role.map(|role| ChainedSetup {
            account: role.account,
            role_name: if role.name.is_empty() {
                DEFAULT_CHAINED_ROLE_NAME.to_owned()
            } else {
                role.name
            },
            external_id,
        }),
        session_tags,
        resources: Resources {
            region,
            cluster,
            services,
            function,
            ecr_repositories,
            ecr_registry,
            ecr_create_repository,
            ecr_scan,
            lambda_alarms,
            s3_bucket,
            s3_bucket_owner,
            function_role,
            keep_revisions: read.raw(&vars::KEEP_REVISIONS).is_some(),
            codedeploy: [
                &vars::CODEDEPLOY_APPLICATION,
                &vars::CODEDEPLOY_DEPLOYMENT_GROUP,
                &vars::CODEDEPLOY_APPSPEC,
            ]
            .iter()
            .any(|var| read.raw(var).is_some())
            .then(|| CodeDeployNames {
                application: read.text(&vars::CODEDEPLOY_APPLICATION),
                deployment_group: read.text(&vars::CODEDEPLOY_DEPLOYMENT_GROUP),
            }),
            keep_versions: read.raw(&vars::KEEP_VERSIONS).is_some(),
            ..Resources::default()
        },
        provider_thumbprint: None,
    };
    let refused: Vec<Problem> = checks::check(&setup)
        .into_iter()
        .map(|problem| Problem {
            variable: problem.field.variable().to_owned(),
            message: problem.message,
        })
        .collect();
    if !refused.is_empty() {
        return Err(Error::Validation(refused));
    }
    Ok(TrustPolicyStep { setup, format, debug })
}

fn account_id(read: &mut Reader<'_>, var: &vars::Var) -> Option<String> {
    let value = read.text(var)?;
    if is_account_id(&value) {
        Some(value)
    } else {
        read.problem(
            var.name,
            format!("must be an AWS account id (12 digits), got {value:?}"),
        );
        None
    }
}

/// The execution role `FUNCTION_CONFIGURATION` gives the function (`Role`), which changing it
/// passes to Lambda (under `Configuration` in `get-function` output). The file is data: only
/// that one field is taken, and it must be a role ARN.
fn function_role(env: &Env, work_dir: &std::path::Path, value: &str) -> Result<Option<String>, String> {
    let (path, document) = load_json_document(env, work_dir, value).map_err(|messages| messages.join("; "))?;
    match crate::domain::lambda_configuration::configuration_of(&document).get("Role") {
        None => Ok(None),
        Some(serde_json::Value::String(arn)) if RoleArn::parse(arn).is_ok() => Ok(Some(arn.clone())),
        Some(other) => Err(format!(
            "{}: Role must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {other}",
            path.display()
        )),
    }
}

#[derive(Default)]
struct TokenScope {
    workspace: Option<String>,
    workspace_uuid: Option<String>,
    repository_uuid: Option<String>,
    environment_uuid: Option<String>,
    audience: Option<String>,
}

/// What the token says about where the step runs.
fn token_scope(claims: &TokenClaims) -> TokenScope {
    let workspace = claims
        .issuer_host_path()
        .and_then(|host| host.split("/workspaces/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    let workspace_aud = claims
        .aud
        .iter()
        .find(|aud| aud.starts_with("ari:cloud:bitbucket::workspace/"))
        .cloned();
    let parts: Vec<&str> = claims.sub.as_deref().unwrap_or_default().split(':').collect();
    TokenScope {
        workspace,
        workspace_uuid: claims.context.get("workspaceUuid").cloned().or_else(|| {
            workspace_aud
                .as_deref()
                .and_then(|aud| aud.strip_prefix("ari:cloud:bitbucket::workspace/"))
                .map(str::to_owned)
        }),
        repository_uuid: claims
            .context
            .get("repositoryUuid")
            .cloned()
            .or_else(|| (parts.len() >= 2).then(|| parts[0].to_owned())),
        environment_uuid: claims
            .context
            .get("deploymentEnvironmentUuid")
            .cloned()
            .or_else(|| (parts.len() == 3).then(|| parts[1].to_owned())),
        audience: workspace_aud.or_else(|| claims.aud.first().cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "{0a1b2c3d-0000-4000-8000-000000000001}";
    const REPO: &str = "{0a1b2c3d-0000-4000-8000-000000000002}";
    const ENV: &str = "{0a1b2c3d-0000-4000-8000-000000000003}";

    fn token(sub: &str) -> String {
        crate::domain::token::tests::encode(&serde_json::json!({
            "iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
            "aud": "ari:cloud:bitbucket::workspace/0a1b2c3d-0000-4000-8000-000000000001",
            "sub": sub,
            "exp": 4_000_000_000u64
        }))
    }

    fn read_with(pairs: &[(&str, &str)]) -> Result<TrustPolicyStep, Error> {
        let mut all = vec![("ACTION", "trust-policy")];
        all.extend_from_slice(pairs);
        read(&Env::from_pairs(
            all.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
    }

    #[test]
    fn a_deployment_step_is_scoped_to_its_environment_by_its_token() {
        let sub = format!("{REPO}:{ENV}:{{step}}");
        let step = read_with(&[
            ("BITBUCKET_STEP_OIDC_TOKEN", &token(&sub)),
            ("AWS_OIDC_ROLE_ARN", "arn:aws-cn:iam::111111111111:role/ci"),
            ("AWS_ROLE_ARN", "arn:aws:iam::222222222222:role/target"),
            ("AWS_EXTERNAL_ID", "secret-value"),
            ("POLICY_ACTIONS", "lambda-deploy"),
            ("POLICY_FORMAT", "terraform"),
        ])
        .unwrap();
        let setup = &step.setup;
        assert_eq!(setup.scope.sub_pattern(), format!("{REPO}:{ENV}:*"));
        assert_eq!(setup.scope.workspace, "acme");
        assert_eq!((setup.partition.as_str(), setup.role_name.as_str()), ("aws-cn", "ci"));
        assert_eq!(setup.account.as_deref(), Some("111111111111"));
        assert!(setup.chained.as_ref().unwrap().external_id);
        assert_eq!(step.format, Format::Terraform);
        assert_eq!(setup.actions, vec![DeployAction::LambdaDeploy]);
    }

    #[test]
    fn ecr_repository_and_create_repository_shape_the_ecr_permissions() {
        let step = read_with(&[
            ("BITBUCKET_WORKSPACE", "acme"),
            ("BITBUCKET_REPO_OWNER_UUID", WS),
            ("BITBUCKET_REPO_UUID", REPO),
            ("POLICY_ACTIONS", "ecr-push"),
            ("ECR_REPOSITORY", "team/web"),
            ("CREATE_REPOSITORY", "true"),
            ("SCAN_FAIL_ON", "HIGH"),
        ])
        .unwrap();
        assert_eq!(step.setup.resources.ecr_repositories, vec!["team/web".to_owned()]);
        assert!(step.setup.resources.ecr_create_repository && step.setup.resources.ecr_scan);
    }

    #[test]
    fn without_a_token_bitbucket_variables_scope_it() {
        let step = read_with(&[
            ("BITBUCKET_WORKSPACE", "acme"),
            ("BITBUCKET_REPO_OWNER_UUID", WS),
            ("BITBUCKET_REPO_UUID", REPO),
        ])
        .unwrap();
        assert_eq!(step.setup.scope.sub_pattern(), format!("{REPO}:*"));
        assert_eq!(step.format, Format::Json);
    }

    fn problems_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        match read_with(pairs) {
            Err(Error::Validation(problems)) => problems.into_iter().map(|p| (p.variable, p.message)).collect(),
            Err(other) => panic!("{other}"),
            Ok(_) => Vec::new(),
        }
    }

    const SCOPED: [(&str, &str); 3] = [
        ("BITBUCKET_WORKSPACE", "acme"),
        ("BITBUCKET_REPO_OWNER_UUID", WS),
        ("BITBUCKET_REPO_UUID", REPO),
    ];

    #[test]
    fn a_malformed_environment_is_refused_not_widened_to_the_repository() {
        let sub = format!("{REPO}:{{not-a-uuid}}:{{step}}");
        let problems = problems_of(&[("BITBUCKET_STEP_OIDC_TOKEN", &token(&sub))]);
        assert!(
            problems
                .iter()
                .any(|(v, m)| v == "BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID" && m.contains("UUID")),
            "{problems:?}"
        );
        let mut pairs = SCOPED.to_vec();
        pairs.push(("BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID", "{prod}"));
        assert_eq!(problems_of(&pairs).len(), 1);
    }

    #[test]
    fn wildcards_and_references_in_names_are_refused() {
        for (variable, value) in [
            ("CLUSTER_NAME", "prod*"),
            ("SERVICE_NAME", "web ap?"),
            ("FUNCTION_NAME", "${aws:username}"),
            ("S3_BUCKET", "%{if x}y%{endif}"),
            ("ECR_REPOSITORY", "team/*"),
        ] {
            let mut pairs = SCOPED.to_vec();
            pairs.extend([
                ("POLICY_ACTIONS", "ecs-deploy ecr-push lambda-deploy"),
                (variable, value),
            ]);
            let problems = problems_of(&pairs);
            assert!(
                problems.iter().any(|(v, m)| v == variable && m.contains("refused")),
                "{variable}: {problems:?}"
            );
        }
    }

    #[test]
    fn registry_bucket_owner_and_the_functions_role_shape_the_permissions() {
        let dir = std::env::temp_dir().join(format!("onboarding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("lambda.json"),
            r#"{"MemorySize": 256, "Role": "arn:aws:iam::111111111111:role/api-exec"}"#,
        )
        .unwrap();
        let mut pairs = SCOPED.to_vec();
        let clone_dir = dir.display().to_string();
        pairs.extend([
            ("BITBUCKET_CLONE_DIR", clone_dir.as_str()),
            ("POLICY_ACTIONS", "lambda-deploy"),
            ("FUNCTION_CONFIGURATION", "lambda.json"),
            ("REGISTRY_ID", "333333333333"),
            ("S3_BUCKET", "artifacts"),
            ("S3_BUCKET_OWNER", "444444444444"),
        ]);
        let step = read_with(&pairs).unwrap();
        let resources = &step.setup.resources;
        assert_eq!(
            resources.function_role.as_deref(),
            Some("arn:aws:iam::111111111111:role/api-exec")
        );
        assert_eq!(resources.ecr_registry.as_deref(), Some("333333333333"));
        assert_eq!(resources.s3_bucket_owner.as_deref(), Some("444444444444"));
        std::fs::write(dir.join("lambda.json"), r#"{"Role": "api-exec"}"#).unwrap();
        let problems = problems_of(&pairs);
        assert!(
            problems
                .iter()
                .any(|(v, m)| v == "FUNCTION_CONFIGURATION" && m.contains("role ARN")),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
        let mut pairs = SCOPED.to_vec();
        pairs.push(("REGISTRY_ID", "12"));
        assert!(problems_of(&pairs).iter().any(|(v, _)| v == "REGISTRY_ID"));
    }

    #[test]
    fn the_regions_partition_is_used_and_a_role_of_another_is_refused() {
        let mut pairs = SCOPED.to_vec();
        pairs.push(("AWS_DEFAULT_REGION", "cn-north-1"));
        assert_eq!(read_with(&pairs).unwrap().setup.partition, "aws-cn");
        pairs.push(("AWS_OIDC_ROLE_ARN", "arn:aws:iam::111111111111:role/ci"));
        let problems = problems_of(&pairs);
        assert!(problems.iter().any(|(v, _)| v == "AWS_OIDC_ROLE_ARN"), "{problems:?}");
    }

    #[test]
    fn without_a_repository_it_refuses() {
        let Err(Error::Validation(problems)) =
            read_with(&[("BITBUCKET_WORKSPACE", "acme"), ("BITBUCKET_REPO_OWNER_UUID", WS)])
        else {
            panic!("expected a validation error")
        };
        assert!(
            problems.iter().any(|p| p.variable == "BITBUCKET_REPO_UUID"),
            "{problems:?}"
        );
        let Err(Error::Validation(problems)) = read_with(&[
            ("BITBUCKET_STEP_OIDC_TOKEN", &token(&format!("{REPO}:{{s}}"))),
            ("POLICY_ACTIONS", "ecs-deploy s3-sync"),
        ]) else {
            panic!("expected a validation error")
        };
        assert!(problems.iter().any(|p| p.variable == "POLICY_ACTIONS"), "{problems:?}");
    }
}
