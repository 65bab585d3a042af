//! (c) The least permissions the chosen deploy actions need, from each action's IAM section in
//! the README. Resources are narrowed by the names given; `iam:PassRole` only ever names roles.

use super::policy::{Policy, Statement};
use super::{CodeDeployNames, DeployAction, Setup, Spelling};

/// What the ECR push needs (issue 10's list), besides `ecr:GetAuthorizationToken` on `*`.
pub const ECR_PUSH: [&str; 7] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:DescribeRepositories",
];

/// `SCAN_FAIL_ON`: the scan's status and findings, and a basic scan started when the repository
/// does not scan on push.
pub const ECR_SCAN: [&str; 2] = ["ecr:DescribeImageScanFindings", "ecr:StartImageScan"];

/// `lambda:GetProvisionedConcurrencyConfig`: after the alias moves, the wait until its
/// provisioned concurrency is READY (without it: a warning, and no wait).
/// `lambda:ListVersionsByFunction`: `ACTION=rollback` finds the version before the alias's.
pub const LAMBDA_DEPLOY: [&str; 10] = [
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:GetAlias",
    "lambda:CreateAlias",
    "lambda:UpdateAlias",
    "lambda:GetProvisionedConcurrencyConfig",
    "lambda:ListVersionsByFunction",
];

/// Where ARNs of one account and region begin.
#[derive(Clone, Copy)]
struct Arns<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
}

impl Arns<'_> {
    fn of(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }
}

/// The permissions of the OIDC role: the deploy permissions, or with chaining only the hop to
/// the chained role (which then holds the deploy permissions).
pub fn oidc_role(setup: &Setup, spelling: &Spelling) -> Option<Policy> {
    match setup.chained_role_arn(spelling) {
        Some(chained_role) => {
            let actions: &[&str] = if setup.session_tags {
                &["sts:AssumeRole", "sts:TagSession"]
            } else {
                &["sts:AssumeRole"]
            };
            Some(Policy::new(vec![Statement::allow(
                "AssumeTheDeployRole",
                actions,
                vec![chained_role],
            )]))
        }
        None => deploy(setup, spelling, &spelling.account),
    }
}

/// The permissions of the chained role, when there is one.
pub fn chained_role(setup: &Setup, spelling: &Spelling) -> Option<Policy> {
    setup.chained.as_ref()?;
    deploy(setup, spelling, &spelling.chained_account)
}

fn deploy(setup: &Setup, spelling: &Spelling, account: &str) -> Option<Policy> {
    let arns = Arns {
        partition: &spelling.partition,
        region: &spelling.region,
        account,
    };
    let mut statements = Vec::new();
    for action in &setup.actions {
        match action {
            DeployAction::EcsDeploy => statements.extend(ecs(setup, &arns)),
            DeployAction::EcrPush => statements.extend(ecr(setup, &arns)),
            DeployAction::LambdaDeploy => statements.extend(lambda(setup, &arns)),
        }
    }
    (!statements.is_empty()).then(|| Policy::new(statements))
}

fn ecs(setup: &Setup, arns: &Arns<'_>) -> Vec<Statement> {
    let resources = &setup.resources;
    let cluster = resources.cluster.as_deref().map(|cluster| {
        cluster
            .rsplit_once(":cluster/")
            .map(|(_, name)| name)
            .unwrap_or(cluster)
    });
    // Service deployments and service revisions (`ACTION=rollback` reads what a service ran
    // before) are named under the cluster and service they belong to.
    let (services, deployments, revisions) = match (cluster, resources.services.as_slice()) {
        (Some(cluster), []) => (
            vec![arns.of("ecs", &format!("service/{cluster}/*"))],
            vec![arns.of("ecs", &format!("service-deployment/{cluster}/*"))],
            vec![arns.of("ecs", &format!("service-revision/{cluster}/*"))],
        ),
        (Some(cluster), names) => (
            names
                .iter()
                .map(|name| arns.of("ecs", &format!("service/{cluster}/{name}")))
                .collect(),
            names
                .iter()
                .map(|name| arns.of("ecs", &format!("service-deployment/{cluster}/{name}/*")))
                .collect(),
            names
                .iter()
                .map(|name| arns.of("ecs", &format!("service-revision/{cluster}/{name}/*")))
                .collect(),
        ),
        (None, _) => (
            vec![arns.of("ecs", "service/*")],
            vec![arns.of("ecs", "service-deployment/*")],
            vec![arns.of("ecs", "service-revision/*")],
        ),
    };
    let mut run_task = Statement::allow(
        "EcsOneOffTask",
        &["ecs:RunTask"],
        vec![arns.of("ecs", "task-definition/*")],
    );
    if let Some(cluster) = cluster {
        // StringLike: the ARN has `*` for the region when none was given.
        run_task = run_task.when(
            "StringLike",
            "ecs:cluster",
            vec![arns.of("ecs", &format!("cluster/{cluster}"))],
        );
    }
    let mut statements = vec![
        // RegisterTaskDefinition, DescribeTaskDefinition and ListTaskDefinitions (a rollback's
        // older revisions of a family) take no resource but `*` in IAM.
        Statement::allow(
            "EcsTaskDefinitions",
            &[
                "ecs:RegisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
            ],
            vec!["*".to_owned()],
        ),
        Statement::allow(
            "EcsServices",
            &[
                "ecs:UpdateService",
                "ecs:DescribeServices",
                "ecs:ListServiceDeployments",
            ],
            services,
        ),
        Statement::allow(
            "EcsServiceDeployments",
            &["ecs:DescribeServiceDeployments", "ecs:StopServiceDeployment"],
            deployments,
        ),
        Statement::allow("EcsServiceRevisions", &["ecs:DescribeServiceRevisions"], revisions),
        run_task,
        // Read-only lookups: the one-off task's state, and the services there are when a name
        // is wrong.
        Statement::allow(
            "EcsReadTasks",
            &["ecs:DescribeTasks", "ecs:ListTasks", "ecs:ListServices"],
            vec!["*".to_owned()],
        ),
        // Tags on a task definition or task are authorised as ecs:TagResource at creation only.
        Statement::allow("EcsTagOnCreate", &["ecs:TagResource"], vec!["*".to_owned()]).when(
            "StringEquals",
            "ecs:CreateAction",
            vec!["RegisterTaskDefinition".to_owned(), "RunTask".to_owned()],
        ),
    ];
    if resources.keep_revisions {
        // KEEP_REVISIONS never deregisters a revision a deployment of any service in the cluster
        // uses: it describes them all. DeregisterTaskDefinition takes no resource but `*`.
        let all_services = match cluster {
            Some(cluster) => arns.of("ecs", &format!("service/{cluster}/*")),
            None => arns.of("ecs", "service/*"),
        };
        statements.push(Statement::allow(
            "EcsCleanupReadServices",
            &["ecs:DescribeServices"],
            vec![all_services],
        ));
        statements.push(Statement::allow(
            "EcsCleanupDeregister",
            &["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"],
            vec!["*".to_owned()],
        ));
    }
    if let Some(names) = &resources.codedeploy {
        statements.extend(codedeploy(names, cluster, &resources.services, arns));
    }
    if !resources.pass_roles.is_empty() {
        statements.push(
            Statement::allow("PassTaskRoles", &["iam:PassRole"], resources.pass_roles.clone()).when(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs-tasks.amazonaws.com".to_owned()],
            ),
        );
    }
    if !resources.infrastructure_roles.is_empty() {
        // A service with Amazon EBS volumes names an infrastructure role that ECS itself uses:
        // deploying it passes that role to ecs.amazonaws.com (not to the tasks).
        statements.push(
            Statement::allow(
                "PassInfrastructureRoles",
                &["iam:PassRole"],
                resources.infrastructure_roles.clone(),
            )
            .when(
                "StringEquals",
                "iam:PassedToService",
                vec!["ecs.amazonaws.com".to_owned()],
            ),
        );
    }
    statements
}

/// ecs-deploy to CODE_DEPLOY services (CodeDeploy permissions reference,
/// https://docs.aws.amazon.com/codedeploy/latest/userguide/auth-and-access-control-permissions-reference.html):
/// deployments on the deployment group ARN (`deploymentgroup:<application>/<group>`);
/// CreateDeployment also registers the AppSpec as a revision of the application and reads the
/// group's deployment configuration; the deployment's targets have no resource type (`*`).
/// No `iam:PassRole`: CodeDeploy acts with the deployment group's own service role, which the
/// group already names; the task definition's roles are passed at RegisterTaskDefinition.
fn codedeploy(names: &CodeDeployNames, cluster: Option<&str>, services: &[String], arns: &Arns<'_>) -> Vec<Statement> {
    let cluster = cluster.unwrap_or("*");
    let per_service: Vec<(String, String)> = if services.is_empty() {
        vec![(format!("AppECS-{cluster}-*"), format!("DgpECS-{cluster}-*"))]
    } else {
        services
            .iter()
            .map(|service| {
                (
                    format!("AppECS-{cluster}-{service}"),
                    format!("DgpECS-{cluster}-{service}"),
                )
            })
            .collect()
    };
    let mut applications: Vec<String> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    for (default_application, default_group) in per_service {
        let application = names.application.clone().unwrap_or(default_application);
        let group = names.deployment_group.clone().unwrap_or(default_group);
        let application_arn = arns.of("codedeploy", &format!("application:{application}"));
        let group_arn = arns.of("codedeploy", &format!("deploymentgroup:{application}/{group}"));
        if !applications.contains(&application_arn) {
            applications.push(application_arn);
        }
        if !groups.contains(&group_arn) {
            groups.push(group_arn);
        }
    }
    vec![
        Statement::allow(
            "CodeDeployDeployments",
            &[
                "codedeploy:GetDeploymentGroup",
                "codedeploy:CreateDeployment",
                "codedeploy:GetDeployment",
                "codedeploy:StopDeployment",
            ],
            groups,
        ),
        Statement::allow(
            "CodeDeployRevisions",
            &[
                "codedeploy:RegisterApplicationRevision",
                "codedeploy:GetApplicationRevision",
            ],
            applications,
        ),
        Statement::allow(
            "CodeDeployConfigs",
            &["codedeploy:GetDeploymentConfig"],
            vec![arns.of("codedeploy", "deploymentconfig:*")],
        ),
        Statement::allow(
            "CodeDeployTargets",
            &[
                "codedeploy:ListDeploymentTargets",
                "codedeploy:BatchGetDeploymentTargets",
            ],
            vec!["*".to_owned()],
        ),
    ]
}

fn lambda(setup: &Setup, arns: &Arns<'_>) -> Vec<Statement> {
    let function = match setup.resources.function.as_deref() {
        // `arn:aws:lambda:region:account:function:name[:qualifier]`: Lambda authorises
        // PublishVersion, UpdateFunctionCode and CreateAlias on the unqualified ARN, so a
        // qualifier (a version or alias) is dropped; `:*` below covers every one of them.
        Some(arn) if arn.starts_with("arn:") => arn.splitn(8, ':').take(7).collect::<Vec<_>>().join(":"),
        Some(name) => arns.of("lambda", &format!("function:{name}")),
        None => arns.of("lambda", "function:*"),
    };
    let mut resources = vec![function.clone()];
    if !function.ends_with('*') {
        // Versions and aliases (`function:api:7`, `function:api:live`).
        resources.push(format!("{function}:*"));
    }
    let mut statements = vec![Statement::allow("LambdaDeploy", &LAMBDA_DEPLOY, resources)];
    if setup.resources.keep_versions {
        // KEEP_VERSIONS: DeleteFunction on qualified ARNs only (`function:api:*`, a version),
        // never the function itself.
        let versions = format!("{function}:*");
        statements.push(Statement::allow(
            "LambdaCleanupList",
            &["lambda:ListVersionsByFunction", "lambda:ListAliases"],
            vec![function.clone()],
        ));
        statements.push(Statement::allow(
            "LambdaCleanupDeleteVersions",
            &["lambda:DeleteFunction", "lambda:GetProvisionedConcurrencyConfig"],
            vec![versions],
        ));
    }
    if let Some(role) = &setup.resources.function_role {
        // FUNCTION_CONFIGURATION sets `Role`: UpdateFunctionConfiguration passes it to Lambda.
        statements.push(
            Statement::allow("PassFunctionRole", &["iam:PassRole"], vec![role.clone()]).when(
                "StringEquals",
                "iam:PassedToService",
                vec!["lambda.amazonaws.com".to_owned()],
            ),
        );
    }
    if !setup.resources.ecr_repositories.is_empty() {
        // IMAGE_URI: the pipe reads the image's manifest to replace an image index by the image
        // for the function's architecture (Lambda refuses indexes).
        statements.push(Statement::allow(
            "LambdaImageManifest",
            &["ecr:BatchGetImage"],
            repository_arns(setup, arns),
        ));
    }
    if setup.resources.lambda_alarms {
        // ALARMS: DescribeAlarms during a traffic shift. On `*`: CloudWatch returns composite
        // alarms only to a caller allowed DescribeAlarms on `*`, and the call reads nothing else.
        statements.push(Statement::allow(
            "LambdaShiftAlarms",
            &["cloudwatch:DescribeAlarms"],
            vec!["*".to_owned()],
        ));
    }
    if let Some(bucket) = &setup.resources.s3_bucket {
        // The pipe puts the package (ZIP_FILE with S3_BUCKET); Lambda then reads the object with
        // the caller's permissions, as s3:GetObjectVersion when the bucket is versioned.
        // Bucket names are global and S3 ARNs name no account: s3:ResourceAccount pins the bucket
        // to its owner, so a bucket of the same name in another account (a deleted one's name
        // taken over) is not covered.
        let owner = setup.resources.s3_bucket_owner.as_deref().unwrap_or(arns.account);
        statements.push(
            Statement::allow(
                "LambdaCodeInS3",
                &["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"],
                vec![format!("arn:{}:s3:::{bucket}/*", arns.partition)],
            )
            .when("StringEquals", "s3:ResourceAccount", vec![owner.to_owned()]),
        );
    }
    statements
}

/// The repositories named with `--ecr-repository` (`ECR_REPOSITORY`), or all of the registry's:
/// the registry of `REGISTRY_ID` (`--registry-id`) when given, else the deploying account's.
fn repository_arns(setup: &Setup, arns: &Arns<'_>) -> Vec<String> {
    let registry = Arns {
        account: setup.resources.ecr_registry.as_deref().unwrap_or(arns.account),
        ..*arns
    };
    if setup.resources.ecr_repositories.is_empty() {
        vec![registry.of("ecr", "repository/*")]
    } else {
        setup
            .resources
            .ecr_repositories
            .iter()
            .map(|name| registry.of("ecr", &format!("repository/{name}")))
            .collect()
    }
}

fn ecr(setup: &Setup, arns: &Arns<'_>) -> Vec<Statement> {
    let resources = &setup.resources;
    let repositories = repository_arns(setup, arns);
    let mut push: Vec<&str> = ECR_PUSH.to_vec();
    if resources.ecr_create_repository {
        push.push("ecr:CreateRepository");
    }
    let mut statements = vec![
        // The registry login is account-wide in IAM.
        Statement::allow("EcrLogin", &["ecr:GetAuthorizationToken"], vec!["*".to_owned()]),
        Statement::allow("EcrPush", &push, repositories.clone()),
    ];
    if resources.ecr_scan {
        statements.push(Statement::allow("EcrScanGate", &ECR_SCAN, repositories));
        // With enhanced scanning ECR reads the findings from Amazon Inspector as the caller;
        // ListFindings has no resource-level permissions.
        statements.push(Statement::allow(
            "EcrEnhancedScanFindings",
            &["inspector2:ListFindings"],
            vec!["*".to_owned()],
        ));
    }
    statements
}

/// What the permissions leave out or wide, and why.
pub fn notes(setup: &Setup) -> Vec<String> {
    let resources = &setup.resources;
    let mut notes = Vec::new();
    for action in &setup.actions {
        match action {
            DeployAction::EcsDeploy => {
                if resources.pass_roles.is_empty() {
                    notes.push(
                        "ecs-deploy: no iam:PassRole was granted. A task definition that names a task role or an \
                         execution role needs it: give their ARNs with --task-role-arn and --execution-role-arn."
                            .to_owned(),
                    );
                }
                if resources.cluster.is_none() {
                    notes.push(
                        "ecs-deploy: no --cluster given, so the services of every cluster are allowed; give \
                         --cluster and --services to narrow them."
                            .to_owned(),
                    );
                }
            }
            DeployAction::LambdaDeploy => {
                if resources.function.is_none() {
                    notes.push(
                        "lambda-deploy: no --function given, so every function of the account is allowed.".to_owned(),
                    );
                }
                notes.push(
                    "lambda-deploy: code as a container image (IMAGE_URI) is read by Lambda itself: the ECR repository's \
                     policy must allow lambda.amazonaws.com ecr:BatchGetImage and ecr:GetDownloadUrlForLayer (Lambda adds \
                     that itself only if this role may call ecr:GetRepositoryPolicy and ecr:SetRepositoryPolicy); from \
                     another account, this role needs those two actions on the repository too."
                        .to_owned(),
                );
                if resources.ecr_repositories.is_empty() {
                    notes.push(
                        "lambda-deploy: with IMAGE_URI the pipe reads the image's manifest (ecr:BatchGetImage on its \
                         repository) to deploy an image index's image for the function's architecture; give the \
                         repository with --ecr-repository to have that granted (without it, an index is only found by \
                         Lambda's refusal)."
                            .to_owned(),
                    );
                }
                if let Some(bucket) = &resources.s3_bucket {
                    notes.push(format!(
                        "lambda-deploy: if bucket {bucket} encrypts with a customer-managed KMS key (SSE-KMS), the \
                         role also needs kms:GenerateDataKey (to put the package) and kms:Decrypt (Lambda reads it \
                         as the role) on that key."
                    ));
                }
                if resources.s3_bucket.is_none() {
                    notes.push(
                        "lambda-deploy: code from S3 (S3_BUCKET) needs s3:PutObject (the pipe uploads ZIP_FILE) and \
                         s3:GetObject/s3:GetObjectVersion (Lambda reads the object with the caller's permissions) \
                         on that bucket: give it with --s3-bucket."
                            .to_owned(),
                    );
                }
            }
            DeployAction::EcrPush => {
                if resources.ecr_scan {
                    notes.push(
                        "ecr-push with SCAN_FAIL_ON: ecr:StartImageScan is used only for a repository that does not scan \
                         on push (basic scanning), and inspector2:ListFindings only under enhanced scanning (ECR reads \
                         Amazon Inspector's findings as the caller); either may go where that is not the case."
                            .to_owned(),
                    );
                }
                if resources.ecr_repositories.is_empty() {
                    notes.push(
                        "ecr-push: no --ecr-repository given, so every repository of the account is allowed."
                            .to_owned(),
                    );
                }
            }
        }
    }
    if resources.region.is_none() && !setup.actions.is_empty() {
        notes.push("No --region given: resource ARNs match every region.".to_owned());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::super::ChainedSetup;
    use super::super::tests::setup;
    use super::*;

    fn statement<'a>(policy: &'a serde_json::Value, sid: &str) -> &'a serde_json::Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid} in {policy:#}"))
    }

    #[test]
    fn codedeploy_is_scoped_to_the_groups_and_passes_no_role() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcsDeploy];
        setup.resources.region = Some("eu-west-1".into());
        setup.resources.cluster = Some("prod".into());
        setup.resources.services = vec!["web".into(), "api".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert!(
            !policy.to_string().contains("codedeploy:"),
            "no CodeDeploy permission unless asked"
        );
        setup.resources.codedeploy = Some(CodeDeployNames::default());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "CodeDeployDeployments")["Resource"],
            serde_json::json!([
                "arn:aws:codedeploy:eu-west-1:111111111111:deploymentgroup:AppECS-prod-web/DgpECS-prod-web",
                "arn:aws:codedeploy:eu-west-1:111111111111:deploymentgroup:AppECS-prod-api/DgpECS-prod-api"
            ])
        );
        assert_eq!(
            statement(&policy, "CodeDeployConfigs")["Resource"],
            "arn:aws:codedeploy:eu-west-1:111111111111:deploymentconfig:*"
        );
        assert_eq!(policy.to_string().matches("iam:PassRole").count(), 0);
        setup.resources.codedeploy = Some(CodeDeployNames {
            application: Some("shop".into()),
            deployment_group: None,
        });
        setup.resources.services = vec!["web".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "CodeDeployRevisions")["Resource"],
            "arn:aws:codedeploy:eu-west-1:111111111111:application:shop"
        );
        assert_eq!(
            statement(&policy, "CodeDeployDeployments")["Resource"],
            "arn:aws:codedeploy:eu-west-1:111111111111:deploymentgroup:shop/DgpECS-prod-web"
        );
    }

    #[test]
    fn nothing_without_actions() {
        let setup = setup();
        assert!(oidc_role(&setup, &setup.literal_spelling(None)).is_none());
    }

    #[test]
    fn ecs_is_scoped_to_the_services_and_passes_only_the_task_roles() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcsDeploy];
        setup.resources.region = Some("eu-west-1".into());
        setup.resources.cluster = Some("prod".into());
        setup.resources.services = vec!["web".into(), "worker".into()];
        setup.resources.pass_roles = vec!["arn:aws:iam::111111111111:role/web-task".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "EcsServices")["Resource"],
            serde_json::json!([
                "arn:aws:ecs:eu-west-1:111111111111:service/prod/web",
                "arn:aws:ecs:eu-west-1:111111111111:service/prod/worker"
            ])
        );
        let pass = statement(&policy, "PassTaskRoles");
        assert_eq!(pass["Action"], "iam:PassRole");
        assert_eq!(pass["Resource"], "arn:aws:iam::111111111111:role/web-task");
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "ecs-tasks.amazonaws.com"
        );
        assert_eq!(
            statement(&policy, "EcsOneOffTask")["Condition"]["StringLike"]["ecs:cluster"],
            "arn:aws:ecs:eu-west-1:111111111111:cluster/prod"
        );
        // iam:PassRole never appears on a wildcard.
        let text = policy.to_string();
        assert_eq!(text.matches("iam:PassRole").count(), 1);
    }

    #[test]
    fn ecr_push_has_exactly_its_list_and_creates_only_when_asked() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcrPush];
        setup.resources.ecr_repositories = vec!["web".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let push = statement(&policy, "EcrPush");
        assert_eq!(push["Action"], serde_json::json!(ECR_PUSH));
        assert_eq!(push["Resource"], "arn:aws:ecr:*:111111111111:repository/web");
        assert_eq!(statement(&policy, "EcrLogin")["Resource"], "*");
        assert!(!policy.to_string().contains("Scan"), "{policy:#}");
        setup.resources.ecr_create_repository = true;
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert!(policy.to_string().contains("ecr:CreateRepository"));
        setup.resources.ecr_scan = true;
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let scan = statement(&policy, "EcrScanGate");
        assert_eq!(scan["Action"], serde_json::json!(ECR_SCAN));
        assert_eq!(scan["Resource"], "arn:aws:ecr:*:111111111111:repository/web");
        let inspector = statement(&policy, "EcrEnhancedScanFindings");
        assert_eq!(
            (&inspector["Action"], &inspector["Resource"]),
            (&serde_json::json!("inspector2:ListFindings"), &serde_json::json!("*"))
        );
        assert!(
            notes(&setup)
                .iter()
                .any(|note| note.contains("inspector2:ListFindings"))
        );
    }

    #[test]
    fn lambda_covers_versions_and_aliases_of_one_function() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::LambdaDeploy];
        setup.resources.function = Some("api".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "LambdaDeploy")["Resource"],
            serde_json::json!([
                "arn:aws:lambda:*:111111111111:function:api",
                "arn:aws:lambda:*:111111111111:function:api:*"
            ])
        );
    }

    #[test]
    fn lambda_reads_image_manifests_only_of_the_named_repositories() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::LambdaDeploy];
        setup.resources.function = Some("api".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert!(!policy.to_string().contains("ecr:"), "{policy:#}");
        assert!(notes(&setup).iter().any(|note| note.contains("--ecr-repository")));
        setup.resources.ecr_repositories = vec!["api".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let read = statement(&policy, "LambdaImageManifest");
        assert_eq!(read["Action"], "ecr:BatchGetImage");
        assert_eq!(read["Resource"], "arn:aws:ecr:*:111111111111:repository/api");
    }

    #[test]
    fn a_qualified_function_arn_gives_the_function_and_its_qualifiers() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::LambdaDeploy];
        setup.resources.function = Some("arn:aws:lambda:eu-west-1:111111111111:function:api:live".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "LambdaDeploy")["Resource"],
            serde_json::json!([
                "arn:aws:lambda:eu-west-1:111111111111:function:api",
                "arn:aws:lambda:eu-west-1:111111111111:function:api:*"
            ])
        );
    }

    #[test]
    fn ecr_arns_name_the_registry_of_registry_id() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcrPush, DeployAction::LambdaDeploy];
        setup.resources.ecr_repositories = vec!["web".into()];
        setup.resources.ecr_registry = Some("333333333333".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "EcrPush")["Resource"],
            "arn:aws:ecr:*:333333333333:repository/web"
        );
        assert_eq!(
            statement(&policy, "LambdaImageManifest")["Resource"],
            "arn:aws:ecr:*:333333333333:repository/web"
        );
        // The functions stay in the deploying account.
        assert!(policy.to_string().contains("arn:aws:lambda:*:111111111111:function:*"));
    }

    #[test]
    fn the_code_bucket_is_pinned_to_its_owner() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::LambdaDeploy];
        setup.resources.s3_bucket = Some("artifacts".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let s3 = statement(&policy, "LambdaCodeInS3");
        assert_eq!(s3["Resource"], "arn:aws:s3:::artifacts/*");
        assert_eq!(s3["Condition"]["StringEquals"]["s3:ResourceAccount"], "111111111111");
        setup.resources.s3_bucket_owner = Some("444444444444".into());
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        assert_eq!(
            statement(&policy, "LambdaCodeInS3")["Condition"]["StringEquals"]["s3:ResourceAccount"],
            "444444444444"
        );
    }

    #[test]
    fn roles_passed_to_lambda_and_to_ecs_itself_each_have_their_service() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcsDeploy, DeployAction::LambdaDeploy];
        setup.resources.function_role = Some("arn:aws:iam::111111111111:role/api-exec".into());
        setup.resources.infrastructure_roles = vec!["arn:aws:iam::111111111111:role/ecs-ebs".into()];
        let policy = oidc_role(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let lambda = statement(&policy, "PassFunctionRole");
        assert_eq!(lambda["Resource"], "arn:aws:iam::111111111111:role/api-exec");
        assert_eq!(
            lambda["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
        let ecs = statement(&policy, "PassInfrastructureRoles");
        assert_eq!(ecs["Resource"], "arn:aws:iam::111111111111:role/ecs-ebs");
        assert_eq!(
            ecs["Condition"]["StringEquals"]["iam:PassedToService"],
            "ecs.amazonaws.com"
        );
    }

    #[test]
    fn with_chaining_the_first_role_may_only_assume_the_second() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::LambdaDeploy];
        setup.chained = Some(ChainedSetup {
            account: "222222222222".into(),
            role_name: "target".into(),
            external_id: false,
        });
        let spelling = setup.literal_spelling(None);
        let first = oidc_role(&setup, &spelling).unwrap().to_value();
        assert_eq!(first["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            first["Statement"][0]["Resource"],
            "arn:aws:iam::222222222222:role/target"
        );
        let second = chained_role(&setup, &spelling).unwrap().to_value();
        assert!(second.to_string().contains("arn:aws:lambda:*:222222222222:function:*"));
    }
}
