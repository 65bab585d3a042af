//! What the generator refuses to write. Every name it is given ends up inside a policy or a
//! template, where some characters mean more than themselves: `*` and `?` are wildcards in an
//! IAM resource (a "name" `prod*` grants every service of every `prod…` cluster), `${…}` is an
//! IAM policy variable, CloudFormation's `Fn::Sub` and Terraform's interpolation, `%{…}` a
//! Terraform directive. Such values are refused, never escaped or passed on; so is a policy
//! IAM would refuse for its size.

use super::{Setup, permissions};

/// IAM's limit on the inline policies of one role, together (IAM quotas: "Role policy size"),
/// counted without whitespace.
pub const INLINE_POLICIES_MAX: usize = 10_240;

/// Which input a problem is about, so that the CLI names its option and a step its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Audience,
    Region,
    Cluster,
    Service,
    PassRole,
    InfrastructureRole,
    Function,
    FunctionRole,
    S3Bucket,
    EcrRepository,
    CodeDeployApplication,
    CodeDeployDeploymentGroup,
    /// The permissions as a whole (too large).
    Permissions,
}

impl Field {
    /// The command line's option.
    pub fn option(self) -> &'static str {
        match self {
            Field::Audience => "--audience",
            Field::Region => "--region",
            Field::Cluster => "--cluster",
            Field::Service => "--services",
            Field::PassRole => "--task-role-arn / --execution-role-arn",
            Field::InfrastructureRole => "--infrastructure-role-arn",
            Field::Function => "--function",
            Field::FunctionRole => "--function-role-arn",
            Field::S3Bucket => "--s3-bucket",
            Field::EcrRepository => "--ecr-repository",
            Field::CodeDeployApplication => "--codedeploy-application",
            Field::CodeDeployDeploymentGroup => "--codedeploy-deployment-group",
            Field::Permissions => "--actions",
        }
    }

    /// The pipe variable (or what in the step) it came from. Roles to pass to ECS are only given
    /// on the command line.
    pub fn variable(self) -> &'static str {
        match self {
            Field::Audience => "BITBUCKET_STEP_OIDC_TOKEN",
            Field::Region => "AWS_DEFAULT_REGION",
            Field::Cluster => "CLUSTER_NAME",
            Field::Service => "SERVICE_NAME",
            Field::PassRole | Field::InfrastructureRole => self.option(),
            Field::Function => "FUNCTION_NAME",
            Field::FunctionRole => "FUNCTION_CONFIGURATION",
            Field::S3Bucket => "S3_BUCKET",
            Field::EcrRepository => "ECR_REPOSITORY",
            Field::CodeDeployApplication => "CODEDEPLOY_APPLICATION",
            Field::CodeDeployDeploymentGroup => "CODEDEPLOY_DEPLOYMENT_GROUP",
            Field::Permissions => "POLICY_ACTIONS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Field,
    pub message: String,
}

/// What a value would do in a policy or template beyond naming something, if anything.
pub fn hazard(value: &str) -> Option<&'static str> {
    if value.contains('*') || value.contains('?') {
        Some("`*` and `?` are wildcards in an IAM resource and would grant more than the one name: give the exact name")
    } else if value.contains("${") || value.contains("%{") {
        Some(
            "`${` and `%{` would be read as a policy variable, a CloudFormation Fn::Sub reference or a Terraform \
             interpolation/directive: give the literal name",
        )
    } else {
        None
    }
}

/// Every problem of the setup's values, and of the size of the permissions they make.
pub fn check(setup: &Setup) -> Vec<Problem> {
    let resources = &setup.resources;
    let mut given: Vec<(Field, &str)> = vec![(Field::Audience, setup.scope.audience.as_str())];
    given.extend(resources.region.as_deref().map(|v| (Field::Region, v)));
    given.extend(resources.cluster.as_deref().map(|v| (Field::Cluster, v)));
    given.extend(resources.services.iter().map(|v| (Field::Service, v.as_str())));
    given.extend(resources.pass_roles.iter().map(|v| (Field::PassRole, v.as_str())));
    given.extend(
        resources
            .infrastructure_roles
            .iter()
            .map(|v| (Field::InfrastructureRole, v.as_str())),
    );
    given.extend(resources.function.as_deref().map(|v| (Field::Function, v)));
    given.extend(resources.function_role.as_deref().map(|v| (Field::FunctionRole, v)));
    given.extend(resources.s3_bucket.as_deref().map(|v| (Field::S3Bucket, v)));
    given.extend(
        resources
            .ecr_repositories
            .iter()
            .map(|v| (Field::EcrRepository, v.as_str())),
    );
    if let Some(names) = &resources.codedeploy {
        given.extend(names.application.as_deref().map(|v| (Field::CodeDeployApplication, v)));
        given.extend(
            names
                .deployment_group
                .as_deref()
                .map(|v| (Field::CodeDeployDeploymentGroup, v)),
        );
    }
    let mut problems: Vec<Problem> = given
        .into_iter()
        .filter_map(|(field, value)| {
            hazard(value).map(|why| Problem {
                field,
                message: format!("{value:?} is refused: {why}"),
            })
        })
        .collect();
    if problems.is_empty() {
        problems.extend(size_problem(setup));
    }
    problems
}

/// The permissions of each role against IAM's limit, as IAM counts them (no whitespace), with
/// the names written out (the JSON output's spelling).
fn size_problem(setup: &Setup) -> Option<Problem> {
    let spelling = setup.literal_spelling(None);
    let policies = [
        ("the OIDC role", permissions::oidc_role(setup, &spelling)),
        ("the chained role", permissions::chained_role(setup, &spelling)),
    ];
    policies.into_iter().find_map(|(role, policy)| {
        let size = policy?
            .to_value()
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count();
        (size > INLINE_POLICIES_MAX).then(|| Problem {
            field: Field::Permissions,
            message: format!(
                "the permissions of {role} would be {size} characters, more than the {INLINE_POLICIES_MAX} IAM allows \
                 for all inline policies of a role together (whitespace not counted), so IAM would refuse them: give \
                 fewer names per role (one role per deployment environment, or per group of services or \
                 repositories), or generate the actions one at a time and attach the parts as customer managed \
                 policies (6,144 characters each)"
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::DeployAction;
    use super::super::tests::setup;
    use super::*;

    #[test]
    fn wildcards_and_template_references_are_refused_wherever_they_are_given() {
        let cases: [(&str, fn(&mut Setup, String)); 9] = [
            ("cluster", |s, v| s.resources.cluster = Some(v)),
            ("service", |s, v| s.resources.services = vec!["web".into(), v]),
            ("function", |s, v| s.resources.function = Some(v)),
            ("bucket", |s, v| s.resources.s3_bucket = Some(v)),
            ("repository", |s, v| s.resources.ecr_repositories = vec![v]),
            ("pass role", |s, v| {
                s.resources.pass_roles = vec![format!("arn:aws:iam::111111111111:role/{v}")]
            }),
            ("function role", |s, v| {
                s.resources.function_role = Some(format!("arn:aws:iam::111111111111:role/{v}"))
            }),
            ("audience", |s, v| s.scope.audience = v),
            ("region", |s, v| s.resources.region = Some(v)),
        ];
        for (what, set) in cases {
            for bad in ["prod*", "we?b", "${aws:username}", "%{ if true }x%{ endif }"] {
                let mut setup = setup();
                set(&mut setup, bad.to_owned());
                let problems = check(&setup);
                assert_eq!(problems.len(), 1, "{what} {bad}: {problems:?}");
            }
            let mut setup = setup();
            set(&mut setup, "plain-name_1.x".to_owned());
            assert!(check(&setup).is_empty(), "{what}");
        }
    }

    #[test]
    fn permissions_over_iams_inline_limit_are_refused_with_what_to_do() {
        let mut setup = setup();
        setup.actions = vec![DeployAction::EcsDeploy];
        setup.resources.cluster = Some("prod".into());
        setup.resources.services = (0..20).map(|i| format!("service-{i}")).collect();
        assert!(check(&setup).is_empty());
        setup.resources.services = (0..200).map(|i| format!("service-with-a-long-name-{i}")).collect();
        let problems = check(&setup);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, Field::Permissions);
        assert!(problems[0].message.contains("10240") && problems[0].message.contains("fewer names"));
    }
}
