//! Keyless onboarding: everything AWS needs so that a Bitbucket step, and only it, can deploy.
//!
//! a. the workspace's IAM OpenID Connect identity provider (`scope`);
//! b. a trust policy admitting one repository or one deployment environment (`trust_policy`);
//! c. the least permissions the chosen deploy actions need (`permissions`);
//! d. for role chaining, the second role's trust policy (`trust_policy`);
//! e. the same as a CloudFormation template (`cloudformation`) and as Terraform (`terraform`).
//!
//! Pure functions of a `Setup`: the CLI (`aws-role-deploy trust-policy`) and `ACTION:
//! trust-policy` build one and print what these return. `doctor` compares a step's token with
//! what such a trust policy requires.

pub mod checks;
pub mod cloudformation;
pub mod doctor;
pub mod document;
pub mod permissions;
pub mod policy;
pub mod scope;
pub mod terraform;
pub mod trust_policy;

use self::scope::Scope;

/// The deploy actions a permissions policy can be generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeployAction {
    EcsDeploy,
    EcrPush,
    LambdaDeploy,
}

impl DeployAction {
    pub const ALL: [DeployAction; 3] = [
        DeployAction::EcsDeploy,
        DeployAction::EcrPush,
        DeployAction::LambdaDeploy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DeployAction::EcsDeploy => "ecs-deploy",
            DeployAction::EcrPush => "ecr-push",
            DeployAction::LambdaDeploy => "lambda-deploy",
        }
    }

    pub fn parse(value: &str) -> Result<DeployAction, String> {
        DeployAction::ALL
            .into_iter()
            .find(|action| action.name().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| format!("{value:?} is not one of ecs-deploy, ecr-push, lambda-deploy"))
    }

    /// A list written with commas and/or spaces; duplicates collapse, order is fixed.
    pub fn parse_list(value: &str) -> Result<Vec<DeployAction>, String> {
        let mut actions = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(DeployAction::parse)
            .collect::<Result<Vec<_>, _>>()?;
        actions.sort();
        actions.dedup();
        Ok(actions)
    }
}

/// Names that narrow the permissions' resources. Unset names leave a wildcard in their place
/// (within the account and region), never a wider one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub services: Vec<String>,
    pub function: Option<String>,
    /// lambda-deploy's S3_BUCKET: the pipe uploads the package there and Lambda reads it back
    /// with the caller's permissions.
    pub s3_bucket: Option<String>,
    /// The account that owns `s3_bucket` (S3_BUCKET_OWNER), pinned with `s3:ResourceAccount`;
    /// `None`: the deploying role's own.
    pub s3_bucket_owner: Option<String>,
    /// The function's execution role (`Role` in FUNCTION_CONFIGURATION): changing it passes it
    /// to Lambda.
    pub function_role: Option<String>,
    pub ecr_repositories: Vec<String>,
    /// The registry (account) of the repositories (REGISTRY_ID); `None`: the deploying role's.
    pub ecr_registry: Option<String>,
    /// `ecr:CreateRepository`, for pushes that create their repository.
    pub ecr_create_repository: bool,
    /// `SCAN_FAIL_ON`: read the scan's findings (`ecr:DescribeImageScanFindings`, and
    /// `inspector2:ListFindings` for enhanced scanning) and start a basic scan
    /// (`ecr:StartImageScan`).
    pub ecr_scan: bool,
    /// lambda-deploy's `ALARMS`: read the alarms during a traffic shift
    /// (`cloudwatch:DescribeAlarms`).
    pub lambda_alarms: bool,
    /// The task role and execution role ARNs `iam:PassRole` is limited to.
    pub pass_roles: Vec<String>,
    /// ECS infrastructure roles (a service's `volumeConfigurations[].managedEBSVolume.roleArn`),
    /// passed to `ecs.amazonaws.com`.
    pub infrastructure_roles: Vec<String>,
    /// `KEEP_REVISIONS`: deregister old revisions, after reading every service of the cluster.
    pub keep_revisions: bool,
    /// ecs-deploy to services on the CODE_DEPLOY controller: CodeDeploy deployments in these
    /// applications and groups (None each: the ECS console's names per service).
    pub codedeploy: Option<CodeDeployNames>,
    /// `KEEP_VERSIONS`: list versions and aliases, delete old versions (qualified ARNs only).
    pub keep_versions: bool,
}

/// `CODEDEPLOY_APPLICATION` / `CODEDEPLOY_DEPLOYMENT_GROUP`, when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeDeployNames {
    pub application: Option<String>,
    pub deployment_group: Option<String>,
}

/// The second role of a chain: another account's role that admits the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedSetup {
    pub account: String,
    pub role_name: String,
    /// Whether its trust policy demands an ExternalId. The value itself is not part of the
    /// setup: it is a secret, and each output spells it its own way (`Spelling`).
    pub external_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub scope: Scope,
    pub partition: String,
    /// The account of the OIDC role; `None` leaves a placeholder (JSON) or the stack's own
    /// account (CloudFormation, Terraform).
    pub account: Option<String>,
    pub role_name: String,
    pub actions: Vec<DeployAction>,
    pub chained: Option<ChainedSetup>,
    /// Whether the pipe tags the chained session (`AWS_SESSION_TAGS`), which needs
    /// `sts:TagSession` in the chained role's trust policy.
    pub session_tags: bool,
    pub resources: Resources,
    /// The SHA-1 thumbprint of the provider's certificate chain, when the user has it
    /// (`--thumbprint`): the CloudFormation parameter's default, and in the other outputs.
    pub provider_thumbprint: Option<String>,
}

pub const DEFAULT_ROLE_NAME: &str = "bitbucket-deploy";
pub const DEFAULT_CHAINED_ROLE_NAME: &str = "bitbucket-deploy-target";

/// How the account, region and ExternalId are written in one output: literal values, or
/// references a template resolves (`${AWS::AccountId}`, `${var.external_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelling {
    pub partition: String,
    pub account: String,
    pub chained_account: String,
    pub region: String,
    pub external_id: String,
}

/// Stands for the ExternalId where its value must not, or cannot, be written.
pub const EXTERNAL_ID_PLACEHOLDER: &str = "<the value of AWS_EXTERNAL_ID>";
pub const ACCOUNT_PLACEHOLDER: &str = "<account id>";

impl Setup {
    /// Literal values: the JSON output. `external_id`: the value to write, when the user asked
    /// for it to be written (the CLI with `--external-id`); otherwise a placeholder.
    pub fn literal_spelling(&self, external_id: Option<&str>) -> Spelling {
        self.spelling(
            &self.partition,
            ACCOUNT_PLACEHOLDER,
            external_id.unwrap_or(EXTERNAL_ID_PLACEHOLDER),
        )
    }

    /// The given values, or how an output writes them: `partition` and `external_id` as they
    /// are (a template's references), the account as given or `unknown_account`.
    pub fn spelling(&self, partition: &str, unknown_account: &str, external_id: &str) -> Spelling {
        Spelling {
            partition: partition.to_owned(),
            account: self.account.clone().unwrap_or_else(|| unknown_account.to_owned()),
            chained_account: self
                .chained
                .as_ref()
                .map(|chained| chained.account.clone())
                .unwrap_or_default(),
            region: self.resources.region.clone().unwrap_or_else(|| "*".to_owned()),
            external_id: external_id.to_owned(),
        }
    }

    pub fn role_arn(&self, spelling: &Spelling) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            spelling.partition, spelling.account, self.role_name
        )
    }

    pub fn chained_role_arn(&self, spelling: &Spelling) -> Option<String> {
        self.chained.as_ref().map(|chained| {
            format!(
                "arn:{}:iam::{}:role/{}",
                spelling.partition, spelling.chained_account, chained.role_name
            )
        })
    }
}

/// What the generator prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    CloudFormation,
    Terraform,
}

impl Format {
    pub fn parse(value: &str) -> Result<Format, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "cloudformation" | "cfn" => Ok(Format::CloudFormation),
            "terraform" | "tf" => Ok(Format::Terraform),
            _ => Err(format!("must be json, cloudformation or terraform, got {value:?}")),
        }
    }
}

/// The whole output in one format. `external_id`: the value to write into the JSON output,
/// only when the user asked for it there; templates always take it as a hidden parameter.
pub fn render(setup: &Setup, format: Format, external_id: Option<&str>) -> String {
    match format {
        Format::Json => format!("{}\n", document::to_json(setup, &setup.literal_spelling(external_id))),
        Format::CloudFormation => cloudformation::render(setup),
        Format::Terraform => terraform::render(setup),
    }
}

impl Setup {
    /// What users must know about what was generated: the scope's limits, and what was left
    /// wide or out because a name was not given.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!("The role admits {}.", self.scope.describe())];
        notes.push(
            "Branches cannot be pinned in AWS: the token's `sub` has no branch. To let only one branch deploy, \
             restrict a Bitbucket deployment environment to that branch and scope the role to that environment \
             (--environment-uuid)."
                .to_owned(),
        );
        if self.scope.environment_uuid.is_none() {
            notes.push(
                "For production, scope the role to a deployment environment (--environment-uuid): repository \
                 scope admits every branch and every pull request's pipeline of the repository."
                    .to_owned(),
            );
        }
        notes.push(
            "CloudFormation: the provider needs ProviderThumbprint (CloudFormation creates no AWS::IAM::OIDCProvider \
             without a ThumbprintList, and cannot update one created without it): the SHA-1 of the last certificate \
             `openssl s_client -servername api.bitbucket.org -showcerts -connect api.bitbucket.org:443 </dev/null` \
             prints, as `openssl x509 -fingerprint -sha1 -noout` gives it, without the colons (IAM's \
             \"Obtain the thumbprint for an OpenID Connect identity provider\")."
                .to_owned(),
        );
        notes.extend(permissions::notes(self));
        if let Some(chained) = &self.chained {
            if chained.external_id {
                notes.push(
                    "The ExternalId is a secret: keep it in a secured repository variable (AWS_EXTERNAL_ID). \
                     CloudFormation and Terraform take it as a hidden parameter / sensitive variable and never \
                     write it into the template."
                        .to_owned(),
                );
            }
            if self.session_tags {
                notes.push(
                    "The chained role admits sts:TagSession because the pipe tags its session \
                     (AWS_SESSION_TAGS, on by default); without session tags, drop it (--no-session-tags)."
                        .to_owned(),
                );
            }
        }
        notes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::scope::{BitbucketUuid, default_audience};
    use super::*;

    pub const WORKSPACE_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000001";
    pub const REPO_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000002";
    pub const ENV_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000003";

    pub fn setup() -> Setup {
        let workspace_uuid = BitbucketUuid::parse(WORKSPACE_UUID).unwrap();
        Setup {
            scope: Scope {
                workspace: "acme".into(),
                audience: default_audience(&workspace_uuid),
                workspace_uuid,
                repository_uuid: BitbucketUuid::parse(REPO_UUID).unwrap(),
                environment_uuid: None,
            },
            partition: "aws".into(),
            account: Some("111111111111".into()),
            role_name: DEFAULT_ROLE_NAME.into(),
            actions: vec![],
            chained: None,
            session_tags: true,
            resources: Resources::default(),
            provider_thumbprint: None,
        }
    }

    #[test]
    fn action_lists_in_either_form() {
        assert_eq!(
            DeployAction::parse_list("lambda-deploy, ecs-deploy ECS-DEPLOY").unwrap(),
            vec![DeployAction::EcsDeploy, DeployAction::LambdaDeploy]
        );
        assert!(DeployAction::parse_list("ecs-deploy,deploy").is_err());
        assert_eq!(DeployAction::parse_list("").unwrap(), vec![]);
    }

    #[test]
    fn notes_recommend_environment_scope_only_when_missing() {
        let mut setup = setup();
        let text = setup.notes().join("\n");
        assert!(
            text.contains("Branches cannot be pinned") && text.contains("For production"),
            "{text}"
        );
        setup.scope.environment_uuid = Some(BitbucketUuid::parse(ENV_UUID).unwrap());
        let text = setup.notes().join("\n");
        assert!(!text.contains("For production"), "{text}");
    }
}
