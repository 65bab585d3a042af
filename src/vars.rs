//! Every pipe variable, declared once with its documentation.
//!
//! `config` reads variables only through these declarations, and a test compares this list
//! with the variables tables of the README (shared variables) and of each action's page under
//! docs/ (test/readme.rs), so the documentation cannot drift from the code. A variable's usage text
//! names the actions it belongs to ("`ecs-deploy`, `rollback`: …"), which decides its page.

/// One pipe variable as users see it in `bitbucket-pipelines.yml`.
#[derive(Debug)]
pub struct Var {
    pub name: &'static str,
    /// What the "Usage" column of its variables table says.
    pub usage: &'static str,
    /// The value used when the variable is unset or empty, in the form a user would write it.
    pub default: Option<&'static str>,
    /// Required for every action (action-specific requirements are checked in `config`).
    pub required: bool,
    /// Never echoed back, not even in a validation error.
    pub secret: bool,
}

impl Var {
    const DEFAULT: Var = Var {
        name: "",
        usage: "",
        default: None,
        required: false,
        secret: false,
    };
}

macro_rules! pipe_variables {
    ($($id:ident { $($field:ident : $value:expr),* $(,)? })*) => {
        $(pub const $id: Var = Var { name: stringify!($id), $($field: $value,)* ..Var::DEFAULT };)*
        /// All variables, in the order of the variables tables.
        pub const ALL: &[&Var] = &[$(&$id),*];
    };
}

pipe_variables! {
    ACTION {
        required: true,
        usage: "What to do: `assume-role` (prove access and print the identity), `ecs-deploy` (register a task definition and roll it out), `lambda-deploy` (update a function, publish a version, move an alias), `rollback` (put ECS services back on the revision they ran before, or a Lambda alias on the version before), `ecr-push` (push an image to ECR, or give an image already there more tags) or `trust-policy` (print the IAM identity provider, trust policy and permissions this step needs; no AWS call, no credentials).",
    }
    AWS_DEFAULT_REGION {
        usage: "AWS region, e.g. `eu-west-1`. Required unless `AWS_REGION` is set.",
    }
    AWS_REGION {
        usage: "Alternative to `AWS_DEFAULT_REGION`; `AWS_DEFAULT_REGION` wins when both are set.",
    }
    AWS_OIDC_ROLE_ARN {
        usage: "ARN of the IAM role to assume with the step's OpenID Connect token (`oidc: true` on the step). The recommended way to authenticate.",
    }
    AWS_ROLE_ARN {
        usage: "ARN of a role to assume on top of the credentials obtained so far (role chaining, cross-account, ExternalId). Needs `AWS_OIDC_ROLE_ARN` or access keys.",
    }
    AWS_EXTERNAL_ID {
        secret: true,
        usage: "ExternalId for assuming `AWS_ROLE_ARN`, when its trust policy asks for one (2-1224 characters of `[\\w+=,.@:/-]`). Never printed.",
    }
    AWS_ROLE_SESSION_NAME {
        usage: "Session name shown in CloudTrail. Characters outside `[A-Za-z0-9+=,.@_-]` become `-`; at most 64 characters.",
        default: Some("bitbucket-<repo slug>-<build number>"),
    }
    AWS_ROLE_DURATION_SECONDS {
        usage: "Lifetime of the role session, 900-43200 seconds (at most 3600 when `AWS_ROLE_ARN` is chained after `AWS_OIDC_ROLE_ARN`: AWS caps chained sessions at one hour). Sessions are refreshed before they expire.",
        default: Some("3600"),
    }
    AWS_SESSION_TAGS {
        usage: "Tag the `AWS_ROLE_ARN` session with the Bitbucket context (Repository, Branch or Tag, Commit, BuildNumber, StepUuid, DeploymentEnvironment). Needs `sts:TagSession` in that role's trust policy; when the policy lacks it, the role is assumed untagged with a warning, unless you set `true` explicitly (then it is an error).",
        default: Some("true"),
    }
    ALLOWED_ACCOUNT_IDS {
        usage: "AWS account ids (12 digits) the pipe may act in; any other account stops the pipe before it changes anything. A space-separated string or a YAML list.",
    }
    AWS_ACCESS_KEY_ID {
        usage: "Legacy long-lived access key id, used only when `AWS_OIDC_ROLE_ARN` is not set. Prefer OIDC.",
    }
    AWS_SECRET_ACCESS_KEY {
        secret: true,
        usage: "Secret for `AWS_ACCESS_KEY_ID`. Never printed.",
    }
    AWS_SESSION_TOKEN {
        secret: true,
        usage: "Session token for temporary access keys. Never printed.",
    }
    AWS_ENDPOINT_URL {
        usage: "Endpoint for every AWS service, e.g. a local emulator.",
    }
    AWS_ENDPOINT_URL_STS {
        usage: "Endpoint for STS only (e.g. a VPC endpoint); wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_ENDPOINT_URL_ECS {
        usage: "Endpoint for ECS only; wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_ENDPOINT_URL_LAMBDA {
        usage: "Endpoint for Lambda only; wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_ENDPOINT_URL_S3 {
        usage: "Endpoint for S3 only (package uploads); wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_ENDPOINT_URL_ECR {
        usage: "Endpoint for ECR's API only (e.g. an `api.ecr` VPC endpoint); wins over `AWS_ENDPOINT_URL`. The registry itself is reached at the address ECR names.",
    }
    AWS_ENDPOINT_URL_CLOUDWATCH {
        usage: "Endpoint for CloudWatch only (`ALARMS`: DescribeAlarms, e.g. a `monitoring` VPC endpoint); wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_ENDPOINT_URL_CODEDEPLOY {
        usage: "Endpoint for CodeDeploy only (`ecs-deploy` to services on the `CODE_DEPLOY` controller); wins over `AWS_ENDPOINT_URL`.",
    }
    AWS_USE_FIPS_ENDPOINT {
        usage: "Use the FIPS 140 endpoints of every service (offered in US and Canada regions and GovCloud). Cannot be combined with an `AWS_ENDPOINT_URL*`.",
        default: Some("false"),
    }
    AWS_USE_DUALSTACK_ENDPOINT {
        usage: "Use the dual-stack (IPv4 and IPv6) endpoints of the AWS APIs. Cannot be combined with an `AWS_ENDPOINT_URL*`. Image layers still go to the registry host ECR names, which is IPv4.",
        default: Some("false"),
    }
    AWS_MAX_ATTEMPTS {
        usage: "Attempts per AWS request (1-10). Throttling, 5xx and network errors are retried with jittered exponential backoff; access and validation errors never are.",
        default: Some("5"),
    }
    AWS_ATTEMPT_TIMEOUT {
        usage: "Seconds one attempt of an AWS request may take before it is abandoned and retried (1-600). `ecr-push`: how long a connection to the registry or the Docker daemon may go without a byte moved before it is abandoned (opening one: at most this, and 10 s).",
        default: Some("30"),
    }
    HTTPS_PROXY {
        secret: true,
        usage: "Proxy for HTTPS requests (self-hosted runners). May carry a password, so it is never printed. `ecr-push` reaches its proxy over plain TCP (a CONNECT tunnel), so an `https://` proxy URL with a password is refused rather than sent in clear.",
    }
    HTTP_PROXY {
        secret: true,
        usage: "Proxy for plain-HTTP requests (e.g. an emulator behind a proxy). Never printed.",
    }
    NO_PROXY {
        usage: "Comma-separated hosts that bypass the proxy.",
    }
    SSL_CERT_FILE {
        usage: "PEM bundle of trusted CA certificates, for runners behind a TLS-inspecting proxy. The image ships Debian's bundle.",
        default: Some("/etc/ssl/certs/ca-certificates.crt"),
    }
    CLUSTER_NAME {
        usage: "`ecs-deploy`, `rollback`: the ECS cluster (name or ARN). Required for `ecs-deploy`; for `rollback`, it makes the target ECS.",
    }
    SERVICE_NAME {
        usage: "`ecs-deploy`, `rollback`: one or more services to deploy to (or roll back), space-separated or a YAML list. Empty with a `TASK_DEFINITION` file: register the revision only.",
    }
    TASK_DEFINITION {
        usage: "`ecs-deploy`: a JSON file (RegisterTaskDefinition input, or `aws ecs describe-task-definition` output; `null` values mean not set and are dropped, `tags` is a list of `{\"key\", \"value\"}` objects), with `${VAR}` placeholders filled from the environment; or an existing revision (`family:revision`, its ARN, or a family for its latest ACTIVE revision) deployed as it is. Unset: each service's current revision, with only the images changed (one new revision per distinct current revision), or restarted as it is with `FORCE_NEW_DEPLOYMENT`. `rollback`: the revision to go back to (`family:revision` or its ARN); unset: the one each service ran before its latest deployment.",
    }
    IMAGE {
        usage: "`ecs-deploy`: new image for the container named by `CONTAINER_NAME` (or for the only container).",
    }
    CONTAINER_NAME {
        usage: "`ecs-deploy`: the container `IMAGE` applies to, and the container that runs `RUN_TASK_COMMAND`.",
    }
    IMAGES {
        usage: "`ecs-deploy`: new images for several containers, as `container=image` items, space-separated or a YAML list.",
    }
    FORCE_NEW_DEPLOYMENT {
        usage: "`ecs-deploy`: start new tasks even when the task definition is unchanged.",
        default: Some("false"),
    }
    DESIRED_COUNT {
        usage: "`ecs-deploy`: set the services' desired count (0-5000). Unset: unchanged.",
    }
    RUN_TASK {
        usage: "`ecs-deploy`: before updating any service, run the new revision once as a task (e.g. migrations) with the first service's network configuration, and stop if it fails.",
        default: Some("false"),
    }
    RUN_TASK_COMMAND {
        usage: "`ecs-deploy`: the command of that task, split like a shell would (quotes, backslashes). Unset: the container's own command.",
    }
    ON_TIMEOUT {
        usage: "`ecs-deploy`, `rollback`: what to do with a deployment still running when `WAIT_TIMEOUT` passes: `fail` (leave it to ECS, and say so) or `rollback` (roll it back with `StopServiceDeployment`, follow the rollback, report it). Also decides whether a cancelled step rolls back. The step fails either way.",
        default: Some("fail"),
    }
    ON_FAILURE {
        usage: "`ecs-deploy`, `rollback`: what to do with a deployment that failed without ECS rolling it back (no circuit-breaker rollback configured): `fail` or `rollback`.",
        default: Some("fail"),
    }
    KEEP_REVISIONS {
        usage: "`ecs-deploy`, `rollback`: after success, deregister the ACTIVE revisions of each deployed family beyond the newest N (1-1000), never one that a deployment of any service in `CLUSTER_NAME` uses; it says which. A refused call is a warning naming the permission (`ecs:ListTaskDefinitions`, `ecs:DeregisterTaskDefinition`). Unset: every revision is kept.",
    }
    CODEDEPLOY_APPLICATION {
        usage: "`ecs-deploy`: for services on the `CODE_DEPLOY` deployment controller (blue/green through CodeDeploy), the CodeDeploy application, the same for every such service in `SERVICE_NAME`. See docs/ecs-codedeploy.md.",
        default: Some("AppECS-<cluster>-<service>"),
    }
    CODEDEPLOY_DEPLOYMENT_GROUP {
        usage: "`ecs-deploy`: the CodeDeploy deployment group of a `CODE_DEPLOY` service. A group deploys one service, so with several `CODE_DEPLOY` services in `SERVICE_NAME` leave it unset (each gets its default).",
        default: Some("DgpECS-<cluster>-<service>"),
    }
    CODEDEPLOY_APPSPEC {
        usage: "`ecs-deploy`: a JSON AppSpec file whose `Hooks` and target service properties (`LoadBalancerInfo`, `PlatformVersion`, `NetworkConfiguration`, `CapacityProviderStrategy`) are merged into the AppSpec the pipe sends. The pipe sets `TaskDefinition`; container name and port come from the service's load balancer unless the file sets them.",
    }
    FUNCTION_NAME {
        usage: "`lambda-deploy`, `rollback`: the function, as a name, an ARN or a partial ARN (`123456789012:function:name`). Required for `lambda-deploy`; for `rollback`, it makes the target Lambda.",
    }
    ZIP_FILE {
        usage: "`lambda-deploy`: the code, as a `.zip` or a directory that the pipe zips reproducibly. With `S3_BUCKET` and `S3_KEY`, uploaded there first (needed above Lambda's 50 MB direct-upload limit).",
    }
    S3_BUCKET {
        usage: "`lambda-deploy`: bucket of the code (with `S3_KEY`): an existing object, or where `ZIP_FILE` is uploaded.",
    }
    S3_KEY {
        usage: "`lambda-deploy`: key of the code in `S3_BUCKET`.",
    }
    S3_OBJECT_VERSION {
        usage: "`lambda-deploy`: version of an existing S3 object (not with `ZIP_FILE`).",
    }
    S3_BUCKET_OWNER {
        usage: "`lambda-deploy` with `ZIP_FILE` uploaded to `S3_BUCKET`: the account id that owns the bucket, sent as `ExpectedBucketOwner` so that S3 refuses the upload when the bucket belongs to anyone else (a mistyped name, a deleted bucket's name taken over). Default: the role's account. `trust-policy`: the account `s3:ResourceAccount` pins.",
    }
    IMAGE_URI {
        usage: "`lambda-deploy`: the code, as a container image URI (functions of package type Image).",
    }
    FUNCTION_CONFIGURATION {
        usage: "`lambda-deploy`: a JSON file of UpdateFunctionConfiguration fields (`MemorySize`, `Environment`...), or what `aws lambda get-function-configuration` or `get-function` prints (fields Lambda only reports are left out, with a note), with `${VAR}` placeholders filled from the environment. A field Lambda neither takes nor reports is refused by name.",
    }
    PUBLISH {
        usage: "`lambda-deploy`: publish a version once the code and configuration are updated.",
        default: Some("true"),
    }
    VERSION_DESCRIPTION {
        usage: "`lambda-deploy`: description of the published version.",
        default: Some("Bitbucket build <build number>, commit <short commit>"),
    }
    ALIAS {
        usage: "`lambda-deploy`: alias created or moved to the published version (needs `PUBLISH`). An alias that splits traffic between versions (`RoutingConfig` weights) is refused unless `ALIAS_CLEAR_WEIGHTS` is true. `rollback` with `FUNCTION_NAME`: the alias to move back (required).",
    }
    ALIAS_CLEAR_WEIGHTS {
        usage: "`lambda-deploy`, `rollback`: when `ALIAS` splits traffic between versions (a canary started by hand or by CodeDeploy), clear its weights as it moves, sending all traffic to the new version, with a warning. Otherwise such an alias is refused before any change.",
        default: Some("false"),
    }
    TRAFFIC_SHIFT {
        usage: "`lambda-deploy` with `ALIAS`: how the alias moves to the new version (the one published, or `VERSION`). `AllAtOnce`, one of CodeDeploy's `Canary10Percent5Minutes`, `Canary10Percent10Minutes`, `Canary10Percent15Minutes`, `Canary10Percent30Minutes`, `Linear10PercentEvery1Minute`, `Linear10PercentEvery2Minutes`, `Linear10PercentEvery3Minutes`, `Linear10PercentEvery10Minutes`, or `canary:<P>%:<T>` / `linear:<P>%:<T>` (P 1-99, T like `30s`, `5m`, `1h`). The alias keeps the old version and sends P% to the new one (`RoutingConfig` weights), step by step, then points at the new version alone. `WAIT_TIMEOUT` must cover the shift too.",
        default: Some("AllAtOnce"),
    }
    ALARMS {
        usage: "`lambda-deploy` with a gradual `TRAFFIC_SHIFT`: CloudWatch alarm names, comma-separated. Checked before the first shift (an alarm that does not exist is an error, one already in `ALARM` refuses the shift) and between steps: one in `ALARM` puts the alias back on the old version with no weights and fails the step, naming the alarm and its reason. Needs `cloudwatch:DescribeAlarms`.",
    }
    VERSION {
        usage: "`lambda-deploy` with `ALIAS` and no code source nor `FUNCTION_CONFIGURATION`: move the alias to this existing published version (a number) and change nothing else, like Atlassian's `COMMAND: alias`; with a gradual `TRAFFIC_SHIFT`, step by step (a canary of a version published earlier). With a code source, or a version that does not exist: exit 2 before any change. `rollback` with `FUNCTION_NAME`: the version to move `ALIAS` back to; unset: the newest published version lower than the alias's.",
    }
    KEEP_VERSIONS {
        usage: "`lambda-deploy`, `rollback`: after success, delete the function's published versions beyond the newest N (1-1000), never one an alias points at (its version or a routing weight) nor one with provisioned concurrency; it says which. A refused call is a warning naming the permission. Unset: every version is kept.",
    }
    IMAGE_NAME {
        usage: "`ecr-push`: the image to push from the step's Docker daemon (`services: [docker]`), e.g. `my-app` or `my-app:1.2`. Exactly one of `IMAGE_NAME`, `IMAGE_ARCHIVE` and `SOURCE_TAG`.",
    }
    IMAGE_ARCHIVE {
        usage: "`ecr-push`: an image archive inside the clone directory, pushed straight to the registry without a daemon: a `docker save` tarball, or an OCI image layout as a directory or a tar (a multi-platform index is pushed whole).",
    }
    SOURCE_TAG {
        usage: "`ecr-push`: a tag or `sha256:` digest already in `ECR_REPOSITORY`; `TAGS` are added to that image without moving any bytes (promotion).",
    }
    ECR_REPOSITORY {
        usage: "`ecr-push`: the repository name, e.g. `team/my-app`. Default: `IMAGE_NAME` without its registry and tag; required with `IMAGE_ARCHIVE` and `SOURCE_TAG`.",
    }
    TAGS {
        usage: "`ecr-push`: the tags to push, space-separated or a YAML list. Unset: `latest`.",
    }
    CREATE_REPOSITORY {
        usage: "`ecr-push`: create `ECR_REPOSITORY` when it does not exist, with `IMAGE_TAG_MUTABILITY` and `SCAN_ON_PUSH`. Needs `ecr:CreateRepository`.",
        default: Some("false"),
    }
    IMAGE_TAG_MUTABILITY {
        usage: "`ecr-push`: `MUTABLE` or `IMMUTABLE`, for a repository the pipe creates.",
        default: Some("MUTABLE"),
    }
    SCAN_ON_PUSH {
        usage: "`ecr-push`: turn on basic scanning on push, for a repository the pipe creates.",
        default: Some("false"),
    }
    SCAN_FAIL_ON {
        usage: "`ecr-push`: wait for ECR's scan of the pushed image (every platform of a multi-platform image) within `WAIT_TIMEOUT`, print the counts per severity and the worst findings, and fail when any finding is at or above this severity: `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `INFORMATIONAL`. Basic and enhanced (Amazon Inspector) scanning; a repository that does not scan on push gets a basic scan started (`ecr:StartImageScan`). Needs `ecr:DescribeImageScanFindings`. Unset: no wait.",
    }
    REGISTRY_ID {
        usage: "`ecr-push`: the account id (12 digits) of the registry, when the repository is in another account than the role's.",
    }
    DOCKER_HOST {
        usage: "`ecr-push` with `IMAGE_NAME`: the Docker daemon, `tcp://host:port` or `unix:///path`. Bitbucket sets it for steps with `services: [docker]`; unset: `unix:///var/run/docker.sock`. Plain TCP to a daemon other than this machine or the step's Docker service (`host.docker.internal`, `BITBUCKET_DOCKER_HOST_INTERNAL`) gets a warning: the registry credential travels to it in clear.",
    }
    WAIT {
        usage: "Wait for the deployment to finish: for `ecs-deploy` and an ECS `rollback`, until every service's new deployment is COMPLETED. `lambda-deploy` always waits for each update, since the next step depends on it.",
        default: Some("true"),
    }
    WAIT_TIMEOUT {
        usage: "Seconds the whole deployment may take, one-off task and waiting included, and the whole of an `ecr-push` (1-86400). Sessions are refreshed during long waits while the step's OIDC token is valid.",
        default: Some("900"),
    }
    DRY_RUN {
        usage: "Show what would change (the task definition diff, with environment values masked, and the services) and change nothing. `assume-role` changes nothing anyway.",
        default: Some("false"),
    }
    POLICY_ACTIONS {
        usage: "`trust-policy`: the deploy actions the generated permissions policy allows: `ecs-deploy`, `ecr-push`, `lambda-deploy`, comma- or space-separated. Resources are narrowed by `CLUSTER_NAME`, `SERVICE_NAME`, `FUNCTION_NAME` and `ECR_REPOSITORY` when set; with `CREATE_REPOSITORY` on, `ecr:CreateRepository` is added; with `SCAN_FAIL_ON` set, the scan gate's reads; `S3_BUCKET` adds putting and reading the Lambda package there. Unset: no permissions policy.",
    }
    POLICY_FORMAT {
        usage: "`trust-policy`: `json`, `cloudformation` or `terraform`.",
        default: Some("json"),
    }
    CODE_INSIGHTS {
        usage: "Leave a Code Insights report on the commit (`BITBUCKET_COMMIT`), shown on the commit and its pull requests: for `ecs-deploy`, `lambda-deploy` and `rollback`, what was deployed, each service's or the function's final state, the duration and console links, PASSED or FAILED; for `ecr-push` with `SCAN_FAIL_ON`, a SECURITY report with the findings per severity and one annotation per finding. Sent through the Pipelines authentication proxy (no credential of the pipe's); outside Bitbucket, or when the report is refused, a warning and never a failed step. `false` turns it off.",
        default: Some("true"),
    }
    DEBUG {
        usage: "Print details: request ids, timings, the token's non-secret claims. Secrets are never printed.",
        default: Some("false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_upper_case() {
        let mut seen = HashSet::new();
        for var in ALL {
            assert!(seen.insert(var.name), "{} declared twice", var.name);
            assert!(
                var.name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{} is not a valid variable name",
                var.name
            );
            assert!(!var.usage.is_empty(), "{} has no usage text", var.name);
        }
    }

    #[test]
    fn secrets_are_flagged() {
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_EXTERNAL_ID",
            "HTTPS_PROXY",
            "HTTP_PROXY",
        ] {
            assert!(ALL.iter().any(|var| var.name == name && var.secret), "{name}");
        }
        assert!(ALL.iter().any(|var| var.name == "AWS_ACCESS_KEY_ID" && !var.secret));
    }
}
