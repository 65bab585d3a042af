//! Atlassian's `aws-ecs-deploy`, `aws-lambda-deploy` and `aws-ecr-push-image`: their variables,
//! what each became here, and what a step that still uses one of theirs is told.

use super::Env;
use crate::vars;

/// Atlassian's pipes that this one replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtlassianPipe {
    EcsDeploy,
    LambdaDeploy,
    EcrPushImage,
}

impl AtlassianPipe {
    pub const ALL: [AtlassianPipe; 3] = [
        AtlassianPipe::EcsDeploy,
        AtlassianPipe::LambdaDeploy,
        AtlassianPipe::EcrPushImage,
    ];

    /// This pipe's action that does what that pipe did.
    pub fn action(self) -> &'static str {
        match self {
            AtlassianPipe::EcsDeploy => "ecs-deploy",
            AtlassianPipe::LambdaDeploy => "lambda-deploy",
            AtlassianPipe::EcrPushImage => "ecr-push",
        }
    }

    /// As in `pipe: atlassian/<name>:<version>`.
    pub fn name(self) -> &'static str {
        match self {
            AtlassianPipe::EcsDeploy => "aws-ecs-deploy",
            AtlassianPipe::LambdaDeploy => "aws-lambda-deploy",
            AtlassianPipe::EcrPushImage => "aws-ecr-push-image",
        }
    }
}

/// What became of one of their variables here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ours {
    /// The same name, read here too (the README says where the meaning or default differs).
    Same,
    /// Another name here: theirs is refused, naming ours.
    Renamed(&'static str),
    /// Replaced by an action: theirs is refused, naming the `ACTION` value.
    Action(&'static str),
    /// Nothing here does what it did: refused, saying why.
    Nothing(&'static str),
}

/// One variable of one of Atlassian's pipes, as their READMEs list it.
#[derive(Debug)]
pub struct AtlassianVariable {
    pub pipe: AtlassianPipe,
    pub name: &'static str,
    /// Their default, when the README gives one.
    pub default: Option<&'static str>,
    pub ours: Ours,
}

const fn atlassian(
    pipe: AtlassianPipe,
    name: &'static str,
    default: Option<&'static str>,
    ours: Ours,
) -> AtlassianVariable {
    AtlassianVariable {
        pipe,
        name,
        default,
        ours,
    }
}

use AtlassianPipe::{EcrPushImage, EcsDeploy, LambdaDeploy};
use Ours::{Action, Nothing, Renamed, Same};

/// The variables of `atlassian/aws-ecs-deploy` (1.x), `atlassian/aws-lambda-deploy` (1.x) and
/// `atlassian/aws-ecr-push-image` (2.x), from their READMEs on bitbucket.org. The
/// tables of docs/coming-from-atlassian.md are checked against this list (test/migration.rs).
pub const ATLASSIAN: &[AtlassianVariable] = &[
    atlassian(EcsDeploy, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(EcsDeploy, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(EcsDeploy, "AWS_DEFAULT_REGION", None, Same),
    atlassian(EcsDeploy, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(EcsDeploy, "CLUSTER_NAME", None, Same),
    atlassian(EcsDeploy, "SERVICE_NAME", None, Same),
    atlassian(EcsDeploy, "TASK_DEFINITION", None, Same),
    atlassian(EcsDeploy, "FORCE_NEW_DEPLOYMENT", Some("false"), Same),
    atlassian(EcsDeploy, "WAIT", Some("false"), Same),
    atlassian(EcsDeploy, "DEBUG", Some("false"), Same),
    atlassian(LambdaDeploy, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(LambdaDeploy, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(LambdaDeploy, "AWS_DEFAULT_REGION", None, Same),
    atlassian(LambdaDeploy, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(LambdaDeploy, "FUNCTION_NAME", None, Same),
    atlassian(LambdaDeploy, "COMMAND", None, Action("lambda-deploy")),
    atlassian(LambdaDeploy, "ZIP_FILE", None, Same),
    atlassian(LambdaDeploy, "PUBLISH_FLAG", Some("true"), Renamed("PUBLISH")),
    atlassian(LambdaDeploy, "ALIAS", None, Same),
    atlassian(LambdaDeploy, "VERSION", None, Same),
    atlassian(LambdaDeploy, "WAIT", None, Same),
    atlassian(
        LambdaDeploy,
        "WAIT_INTERVAL",
        None,
        Nothing("the pipe polls AWS with its own backoff, and WAIT_TIMEOUT bounds the whole wait"),
    ),
    atlassian(LambdaDeploy, "DEBUG", Some("false"), Same),
    atlassian(EcrPushImage, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(EcrPushImage, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(EcrPushImage, "AWS_DEFAULT_REGION", None, Same),
    atlassian(EcrPushImage, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(EcrPushImage, "IMAGE_NAME", None, Same),
    atlassian(EcrPushImage, "TAGS", Some("latest"), Same),
    atlassian(EcrPushImage, "DEBUG", Some("false"), Same),
];

pub(super) fn atlassian_refusal(theirs: &AtlassianVariable, env: &Env) -> String {
    let pipe = theirs.pipe.name();
    // A step of another action (`ACTION: "ecs-deploy"` with `COMMAND`) did not come
    // from that pipe: the name is more likely a placeholder nothing reads, or a slip.
    let action = env.peek(vars::ACTION.name).map(str::to_ascii_lowercase);
    if let Some(action) = &action
        && matches!(theirs.ours, Action(_) | Nothing(_))
        && action != theirs.pipe.action()
    {
        let name = theirs.name;
        let hint = if name == "COMMAND" && action == "ecs-deploy" {
            "; the command of the one-off task is RUN_TASK_COMMAND"
        } else {
            ""
        };
        return format!(
            "is not a variable of this pipe (it is one of Atlassian's {pipe}), and nothing this step reads uses it, \
             as a ${{{name}}} placeholder say: remove it{hint}"
        );
    }
    match theirs.ours {
        Renamed(ours) => {
            format!("is what Atlassian's {pipe} pipe calls {ours}: rename it to {ours} (this pipe would ignore it)")
        }
        Action(action) => {
            // `COMMAND: alias` moved an alias to an existing version; here ALIAS with VERSION does
            // it. The value is Atlassian's keyword, never a secret; quoted only when it is one of
            // theirs.
            let alias = env
                .peek(theirs.name)
                .is_some_and(|value| value.eq_ignore_ascii_case("alias"));
            let how = if alias {
                format!(
                    "ACTION: \"{action}\" with ALIAS and VERSION (and no code source), which moves the alias to that \
                     existing version"
                )
            } else {
                format!(
                    "ACTION: \"{action}\", which updates the code, publishes a version and, with ALIAS, moves the alias, \
                     in one step"
                )
            };
            format!("is how Atlassian's {pipe} pipe chooses what to do; here that is {how}: remove it")
        }
        Nothing(why) => {
            format!("is a variable of Atlassian's {pipe} pipe with no equivalent here ({why}): remove it")
        }
        Same => unreachable!("shared variables are never refused"),
    }
}
