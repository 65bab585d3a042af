//! The doctor: compare a step's token with what a trust policy from `trust_policy` requires,
//! and say which part differs and how to fix it.
//!
//! STS's answer says which check failed: no provider for the token's `iss`, a provider that does
//! not list its `aud`, or (both accepted) a trust policy whose conditions or principal do not
//! admit it. The role's trust policy itself cannot be read without credentials, so for the last
//! kind the doctor says which scopes admit this token and which do not.

use super::policy::{Policy, Statement};
use crate::domain::token::TokenClaims;

/// Which check of STS refused the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `InvalidIdentityToken` "No OpenIDConnect provider found in your account for <iss>".
    NoProvider,
    /// `InvalidIdentityToken` "Incorrect token audience": the provider does not list `aud`.
    Audience,
    /// `InvalidIdentityToken` "OpenIDConnect provider's HTTPS certificate doesn't match configured
    /// thumbprint": the issuer's certificate changed since the provider's thumbprint was taken.
    Thumbprint,
    /// `AccessDenied`: provider and audience fine, the role's trust policy refused.
    TrustPolicy,
    /// STS admitted the token (`ACTION: assume-role` with DEBUG).
    Admitted,
    /// Another refusal (a bad signature, say): the comparison is shown, nothing called out.
    Other,
}

impl Verdict {
    pub fn of(code: &str, message: &str) -> Option<Verdict> {
        let message = message.to_ascii_lowercase();
        match code {
            "InvalidIdentityToken" if message.contains("no openidconnect provider") => Some(Verdict::NoProvider),
            "InvalidIdentityToken" if message.contains("audience") => Some(Verdict::Audience),
            "InvalidIdentityToken" if message.contains("thumbprint") => Some(Verdict::Thumbprint),
            "AccessDenied" => Some(Verdict::TrustPolicy),
            _ => None,
        }
    }

    /// Any refusal: the known kinds, or `Other`.
    pub fn of_refusal(code: &str, message: &str) -> Verdict {
        Verdict::of(code, message).unwrap_or(Verdict::Other)
    }
}

/// Where the role lives: the provider must be in the same account.
pub struct RoleAt<'a> {
    pub arn: &'a str,
    pub partition: &'a str,
    pub account: &'a str,
}

/// The parts of `sub`: `{repo}:{step}`, or `{repo}:{environment}:{step}` on a deployment step.
struct Subject<'a> {
    repository: &'a str,
    environment: Option<&'a str>,
}

fn subject(claims: &TokenClaims) -> Option<Subject<'_>> {
    let parts: Vec<&str> = claims.sub.as_deref()?.split(':').collect();
    match parts.as_slice() {
        [repository, environment, _step] if !repository.is_empty() => Some(Subject {
            repository,
            environment: Some(environment),
        }),
        [repository, _step] if !repository.is_empty() => Some(Subject {
            repository,
            environment: None,
        }),
        _ => None,
    }
}

const DEFAULT_AUDIENCE_PREFIX: &str = "ari:cloud:bitbucket::workspace/";

fn strip_braces(value: &str) -> &str {
    value.trim_start_matches('{').trim_end_matches('}')
}

/// The comparison, as lines for the log. `verdict` decides which part is called out.
pub fn compare(claims: &TokenClaims, role: &RoleAt<'_>, verdict: Verdict) -> Vec<String> {
    let issuer = claims.iss.as_deref().unwrap_or("(none)");
    let issuer_host = claims.issuer_host_path().unwrap_or("(none)");
    let provider_arn = format!(
        "arn:{}:iam::{}:oidc-provider/{issuer_host}",
        role.partition, role.account
    );
    let audiences = if claims.aud.is_empty() {
        "(none)".to_owned()
    } else {
        claims.aud.join(", ")
    };
    let subject = subject(claims);
    // After an unexplained refusal nothing is known to match: no ✔ then.
    let mark = |differs: bool| match (differs, verdict) {
        (true, _) => "✖",
        // A thumbprint refusal comes before aud and sub are looked at.
        (false, Verdict::Other | Verdict::Thumbprint) => "·",
        (false, _) => "✔",
    };

    let header = if verdict == Verdict::Admitted {
        "STS admitted the step's token; what `aws-role-deploy trust-policy` requires of it:"
    } else {
        "The step's token compared with what a trust policy from `aws-role-deploy trust-policy` requires:"
    };
    let mut lines = vec![header.to_owned()];
    lines.push(format!(
        "  {} iss {issuer}: needs an IAM OpenID Connect provider with exactly this URL in account {} ({provider_arn})",
        mark(matches!(verdict, Verdict::NoProvider | Verdict::Thumbprint)),
        role.account
    ));
    lines.push(format!(
        "  {} aud {audiences}: the provider must list it as an audience, and the policy must expect it (StringEquals {issuer_host}:aud)",
        mark(verdict == Verdict::Audience)
    ));
    let sub = claims.sub.as_deref().unwrap_or("(none)");
    match &subject {
        Some(Subject {
            repository,
            environment: Some(environment),
        }) => lines.push(format!(
            "  {} sub {sub}: this step runs in deployment environment {environment} of repository {repository}; \
             \"{repository}:*\" (repository scope) and \"{repository}:{environment}:*\" (this environment) admit it, \
             a policy scoped to another environment or repository does not",
            mark(verdict == Verdict::TrustPolicy)
        )),
        Some(Subject {
            repository,
            environment: None,
        }) => lines.push(format!(
            "  {} sub {sub}: this step runs in no deployment environment (repository {repository}); only \
             \"{repository}:*\" (repository scope) admits it, a policy scoped to a deployment environment does not",
            mark(verdict == Verdict::TrustPolicy)
        )),
        None => lines.push(format!(
            "  ✖ sub {sub}: not the form Bitbucket issues ({{repository}}:{{step}} or {{repository}}:{{environment}}:{{step}})"
        )),
    }

    match verdict {
        Verdict::Admitted => return lines,
        Verdict::Other => {}
        Verdict::NoProvider => lines.push(format!(
            "What differs: iss. Account {} has no identity provider for {issuer}. Create it (URL exactly as above, \
             no trailing slash; audience {audiences}) in the account of AWS_OIDC_ROLE_ARN, or fix a typo in its URL.",
            role.account
        )),
        Verdict::Thumbprint => lines.push(format!(
            "What differs: the provider's thumbprint. {provider_arn} exists, but the certificate that {} \
             presents now is not among the thumbprints configured on it (IAM compares thumbprints only for a \
             certificate not signed by a CA in its trusted library, which STS says it did here). Nothing in the \
             token or the \
             trust policy is wrong: update the provider's thumbprints to the current certificate (IAM console: \
             Identity providers > the provider > Manage thumbprints, or `aws iam \
             update-open-id-connect-provider-thumbprint --open-id-connect-provider-arn {provider_arn} \
             --thumbprint-list <the current SHA-1 thumbprint>`).",
            issuer_host.split('/').next().unwrap_or(issuer_host)
        )),
        Verdict::Audience => {
            lines.push(format!(
                "What differs: aud. The provider for {issuer} does not list {audiences}: add it to the provider's \
                 audiences (client IDs)."
            ));
            if !claims.aud.iter().any(|aud| aud.starts_with(DEFAULT_AUDIENCE_PREFIX)) {
                lines.push(
                    "This step sets custom audiences (`oidc: audiences:`); the provider and the policy must \
                     name one of them, or remove them to get the workspace's audience."
                        .to_owned(),
                );
            }
        }
        Verdict::TrustPolicy => {
            lines.push(format!(
                "What differs: the trust policy of {}. STS accepted iss and aud at the provider, so the role's trust \
                 policy does not admit this token: its Principal names another provider, or its aud or sub condition \
                 does not match, or the role does not exist.",
                role.arn
            ));
            match &subject {
                Some(Subject {
                    environment: Some(environment),
                    ..
                }) => lines.push(format!(
                    "If the role was scoped to a deployment environment: this step runs in deployment environment \
                     {environment}; admit that one (--environment-uuid {}), or run the step in the environment the \
                     role admits.",
                    strip_braces(environment)
                )),
                Some(Subject { environment: None, .. }) => lines.push(
                    "If the role was scoped to a deployment environment: this step is not a deployment step, and \
                     such a policy admits only that environment's steps. Add `deployment: <environment>` to the \
                     step, or scope the role to the repository."
                        .to_owned(),
                ),
                None => {}
            }
        }
    }
    if verdict == Verdict::Thumbprint {
        // The token and the trust policy were not judged: a policy to compare would mislead.
        return lines;
    }
    if let (Some(subject), Some(statement)) = (&subject, admitting_statement(claims, &provider_arn)) {
        let command = generate_command(claims, subject);
        lines.push(format!(
            "A trust policy that admits exactly this {} (`{command}` prints it with the provider and permissions):",
            if subject.environment.is_some() {
                "deployment environment"
            } else {
                "repository"
            }
        ));
        lines.extend(statement.lines().map(|line| format!("  {line}")));
    }
    lines
}

/// The policy (b) would generate for this token's repository or environment.
fn admitting_statement(claims: &TokenClaims, provider_arn: &str) -> Option<String> {
    let issuer_host = claims.issuer_host_path()?;
    let subject = subject(claims)?;
    let pattern = match subject.environment {
        Some(environment) => format!("{}:{environment}:*", subject.repository),
        None => format!("{}:*", subject.repository),
    };
    let audience = claims.aud.first()?;
    let statement = Statement::trust(
        "BitbucketPipelinesOidc",
        "Federated",
        provider_arn.to_owned(),
        &["sts:AssumeRoleWithWebIdentity"],
    )
    .when("StringEquals", &format!("{issuer_host}:aud"), vec![audience.clone()])
    .when("StringLike", &format!("{issuer_host}:sub"), vec![pattern]);
    Some(Policy::new(vec![statement]).to_pretty_json())
}

fn generate_command(claims: &TokenClaims, subject: &Subject<'_>) -> String {
    let workspace = claims
        .issuer_host_path()
        .and_then(|host| host.split("/workspaces/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("<workspace>");
    let workspace_uuid = claims
        .aud
        .iter()
        .find_map(|aud| aud.strip_prefix(DEFAULT_AUDIENCE_PREFIX))
        .unwrap_or("<workspace uuid>");
    let mut command = format!(
        "aws-role-deploy trust-policy --workspace {workspace} --workspace-uuid {workspace_uuid} --repository-uuid {}",
        strip_braces(subject.repository)
    );
    if let Some(environment) = subject.environment {
        command.push_str(&format!(" --environment-uuid {}", strip_braces(environment)));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: RoleAt<'static> = RoleAt {
        arn: "arn:aws:iam::111111111111:role/deploy",
        partition: "aws",
        account: "111111111111",
    };

    fn claims(sub: &str, aud: &str) -> TokenClaims {
        TokenClaims {
            iss: Some("https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc".into()),
            aud: vec![aud.into()],
            sub: Some(sub.into()),
            ..TokenClaims::default()
        }
    }

    #[test]
    fn verdicts_from_sts_answers() {
        assert_eq!(
            Verdict::of(
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account for https://x"
            ),
            Some(Verdict::NoProvider)
        );
        assert_eq!(
            Verdict::of("InvalidIdentityToken", "Incorrect token audience"),
            Some(Verdict::Audience)
        );
        assert_eq!(
            Verdict::of(
                "InvalidIdentityToken",
                "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
            ),
            Some(Verdict::Thumbprint)
        );
        assert_eq!(
            Verdict::of(
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            ),
            Some(Verdict::TrustPolicy)
        );
        assert_eq!(
            Verdict::of("InvalidIdentityToken", "The web identity token signature is invalid"),
            None
        );
    }

    #[test]
    fn a_non_deployment_step_refused_by_an_environment_policy() {
        let text = compare(
            &claims("{r}:{s}", "ari:cloud:bitbucket::workspace/w"),
            &ROLE,
            Verdict::TrustPolicy,
        )
        .join("\n");
        assert!(text.contains("this step is not a deployment step"), "{text}");
        assert!(text.contains("\"{r}:*\""), "{text}");
        assert!(
            text.contains("--workspace acme --workspace-uuid w --repository-uuid r"),
            "{text}"
        );
    }

    #[test]
    fn a_deployment_step_names_its_environment() {
        let text = compare(
            &claims("{r}:{e}:{s}", "ari:cloud:bitbucket::workspace/w"),
            &ROLE,
            Verdict::TrustPolicy,
        )
        .join("\n");
        assert!(text.contains("this step runs in deployment environment {e}"), "{text}");
        assert!(text.contains("\"{r}:{e}:*\""), "{text}");
        assert!(text.contains("--environment-uuid e"), "{text}");
    }

    #[test]
    fn an_unexplained_refusal_marks_nothing_as_matching() {
        let text = compare(
            &claims("{r}:{s}", "ari:cloud:bitbucket::workspace/w"),
            &ROLE,
            Verdict::Other,
        )
        .join("\n");
        assert!(!text.contains('✔') && !text.contains("What differs"), "{text}");
        assert!(text.contains("· iss") && text.contains("\"{r}:*\""), "{text}");
    }

    #[test]
    fn custom_audiences_are_called_out() {
        let text = compare(&claims("{r}:{s}", "my-audience"), &ROLE, Verdict::Audience).join("\n");
        assert!(
            text.contains("What differs: aud") && text.contains("custom audiences"),
            "{text}"
        );
    }
}
