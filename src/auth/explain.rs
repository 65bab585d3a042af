//! Turning STS refusals into what to change. These are the failures users hit most: an `aud` or
//! `sub` that the trust policy does not admit, a missing `sts:TagSession`, a wrong ExternalId.

use std::time::SystemTime;

use crate::aws::{AwsFailure, FailureKind};
use crate::domain::arn::RoleArn;
use crate::domain::auth_plan::{AuthPlan, ChainedRole, CredentialSource};
use crate::domain::onboarding::doctor::{self, RoleAt, Verdict};
use crate::domain::sts::masked_key_id;
use crate::domain::time::{format_epoch, relative};
use crate::domain::token::TokenClaims;
use crate::error::Error;

/// Codes with which STS refuses an identity (as opposed to failing to answer).
const REFUSALS: [&str; 7] = [
    "AccessDenied",
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "IDPRejectedClaim",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
];

fn is_refusal(failure: &AwsFailure) -> bool {
    failure.code.as_deref().is_some_and(|code| REFUSALS.contains(&code))
}

/// STS could not fetch the identity provider's signing keys to verify the token: a passing
/// problem between STS and the provider, not a verdict on the token or the trust policy.
pub fn is_idp_unreachable(failure: &AwsFailure) -> bool {
    failure.code_is("IDPCommunicationError")
        || (failure.code_is("InvalidIdentityToken") && failure.message.contains("retrieve verification key"))
}

/// The chained role's trust policy admits the pipe but not `sts:TagSession`.
pub fn is_tag_session_refusal(failure: &AwsFailure) -> bool {
    failure.code_is("AccessDenied") && failure.message.contains("sts:TagSession")
}

/// STS refuses a `DurationSeconds` above the role's `MaxSessionDuration` (or the one-hour cap of
/// role chaining) with a ValidationError that names `DurationSeconds`.
pub fn is_duration_refusal(failure: &AwsFailure) -> bool {
    failure.code_is("ValidationError") && failure.message.contains("DurationSeconds")
}

pub fn claims_summary(claims: &TokenClaims) -> String {
    let mut parts = vec![
        format!("iss={}", claims.iss.as_deref().unwrap_or("(none)")),
        format!("aud={}", claims.aud.join(",")),
        format!("sub={}", claims.sub.as_deref().unwrap_or("(none)")),
        format!(
            "exp={}",
            claims.exp.map(format_epoch).unwrap_or_else(|| "(none)".into())
        ),
    ];
    parts.extend(claims.context.iter().map(|(name, value)| format!("{name}={value}")));
    parts.join(" ")
}

fn expiry_text(claims: &TokenClaims) -> String {
    match (claims.exp, claims.expiry()) {
        (Some(exp), Some(expiry)) if expiry <= SystemTime::now() => {
            format!("{} (EXPIRED {})", format_epoch(exp), relative(expiry))
        }
        (Some(exp), Some(expiry)) => format!("{} (valid, expires {})", format_epoch(exp), relative(expiry)),
        _ => "(none)".to_owned(),
    }
}

/// STS answered, but not with a refusal of who we are.
fn other_failure(failure: AwsFailure) -> Error {
    let hint = |text: &str| vec![text.to_owned()];
    match failure.code.as_deref() {
        Some("PackedPolicyTooLarge") => Error::BadInput {
            summary: failure.to_string(),
            details: hint("The session tags are too large for STS: set AWS_SESSION_TAGS: \"false\"."),
        },
        Some("ValidationError") => Error::BadInput {
            summary: failure.to_string(),
            details: hint("Check AWS_ROLE_SESSION_NAME, AWS_EXTERNAL_ID and the role ARNs."),
        },
        Some("RegionDisabledException") => Error::failed(
            failure,
            hint(
                "STS is not activated in this region for the account: activate it in IAM (Account settings), or change AWS_DEFAULT_REGION.",
            ),
        ),
        _ => Error::failed(failure, vec![]),
    }
}

/// No answer from AWS at all (after retries): name where the pipe tried to go and what decides it.
fn unreachable(failure: AwsFailure, sts_endpoint: &str) -> Error {
    Error::failed(
        failure,
        vec![format!(
            "The pipe could not get an answer from {sts_endpoint}. Check AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, \
             HTTPS_PROXY / NO_PROXY, SSL_CERT_FILE (for TLS errors), and that the runner can reach AWS; \
             AWS_ATTEMPT_TIMEOUT and AWS_MAX_ATTEMPTS decide how long it tries."
        )],
    )
}

/// `sts:AssumeRoleWithWebIdentity` failed: show what the token carries (without verifying it)
/// and the trust policy that would admit it.
pub fn web_identity_refused(
    failure: AwsFailure,
    role: &RoleArn,
    claims: &TokenClaims,
    plan: &AuthPlan,
    sts_endpoint: &str,
) -> Error {
    if failure.kind == FailureKind::NoResponse {
        return unreachable(failure, sts_endpoint);
    }
    if is_duration_refusal(&failure) {
        return duration_refused(failure, &role.arn, plan);
    }
    if is_idp_unreachable(&failure) {
        let issuer = claims.iss.as_deref().unwrap_or("the token's issuer");
        return Error::failed(
            format!("STS could not reach the identity provider's keys to verify the step's token ({failure})"),
            vec![format!(
                "STS fetches the signing keys of {issuer} to check the token, and could not, several times. \
                     For Bitbucket's own issuer this usually passes: run the step again. If it persists, the keys \
                     may not be reachable from AWS (a self-hosted issuer behind a firewall, or answering slower \
                     than STS waits). The token and the role were not judged."
            )],
        );
    }
    if !is_refusal(&failure) {
        return other_failure(failure);
    }
    let expired = failure.code_is("ExpiredTokenException") || claims.expiry().is_some_and(|t| t <= SystemTime::now());
    let mut details = vec![
        "The step's OIDC token carries (decoded, not verified):".to_owned(),
        format!("  iss: {}", claims.iss.as_deref().unwrap_or("(none)")),
        format!(
            "  aud: {}",
            if claims.aud.is_empty() {
                "(none)".to_owned()
            } else {
                claims.aud.join(", ")
            }
        ),
        format!("  sub: {}", claims.sub.as_deref().unwrap_or("(none)")),
        format!("  exp: {}", expiry_text(claims)),
    ];
    if expired {
        details.push(
            "Bitbucket issues the token when the step starts and it is valid for a limited time. Re-run the step, \
             and in long steps run this pipe earlier."
                .to_owned(),
        );
        let summary = format!("The step's OIDC token has expired ({failure})");
        return Error::auth(summary, details);
    }
    let verdict = Verdict::of_refusal(failure.code.as_deref().unwrap_or_default(), &failure.message);
    details.extend(trust_policy_for(role, claims, verdict));
    Error::auth(
        format!(
            "AWS refused the step's OIDC token for AWS_OIDC_ROLE_ARN {}: {failure}",
            role.arn
        ),
        details,
    )
}

/// The doctor's comparison of the token with what a generated trust policy requires, and
/// which part differs (`domain::onboarding::doctor`).
fn trust_policy_for(role: &RoleArn, claims: &TokenClaims, verdict: Verdict) -> Vec<String> {
    if claims.issuer_host_path().is_none() {
        return vec!["The token has no issuer (iss); it was not issued by Bitbucket Pipelines.".to_owned()];
    }
    let at = RoleAt {
        arn: &role.arn,
        partition: &role.partition,
        account: &role.account,
    };
    let mut lines = doctor::compare(claims, &at, verdict);
    if !matches!(verdict, Verdict::Admitted | Verdict::Thumbprint) {
        lines.push(
            "If the policy already looks like this, check that AWS_OIDC_ROLE_ARN names the right role.".to_owned(),
        );
    }
    lines
}

/// What `ACTION: assume-role` with DEBUG shows after STS admitted the token: the same
/// comparison, so users see which scope their policy may be narrowed to.
pub fn admitted(plan: &AuthPlan) -> Vec<String> {
    match &plan.source {
        CredentialSource::WebIdentity { role, claims, .. } => trust_policy_for(role, claims, Verdict::Admitted),
        CredentialSource::AccessKeys { .. } => Vec::new(),
    }
}

/// `sts:AssumeRole` on `AWS_ROLE_ARN` failed.
pub fn assume_role_refused(failure: AwsFailure, chained: &ChainedRole, plan: &AuthPlan, sts_endpoint: &str) -> Error {
    if failure.kind == FailureKind::NoResponse {
        return unreachable(failure, sts_endpoint);
    }
    let role = &chained.role.arn;
    if is_duration_refusal(&failure) {
        return duration_refused(failure, role, plan);
    }
    if !is_refusal(&failure) {
        return other_failure(failure);
    }
    if is_tag_session_refusal(&failure) {
        return Error::auth(
            failure,
            vec![
                format!(
                    "Session tags need sts:TagSession, both in the trust policy of AWS_ROLE_ARN {role} and in the \
                     permissions of the identity that assumes it. Either:"
                ),
                "  - add it to the statement that admits the pipe: \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]"
                    .to_owned(),
                "  - or set AWS_SESSION_TAGS: \"false\" (CloudTrail then shows the session name only)".to_owned(),
            ],
        );
    }
    if let Some(details) = key_refusal(&failure, plan) {
        return Error::auth(failure, details);
    }
    let first = match &plan.source {
        CredentialSource::WebIdentity { role, .. } => format!("the role {}", role.arn),
        CredentialSource::AccessKeys { access_key_id, .. } => {
            format!("the IAM user of access key {}", masked_key_id(access_key_id))
        }
    };
    let external_id = if chained.external_id.is_some() {
        "The statement's Condition must expect the ExternalId given in AWS_EXTERNAL_ID (StringEquals sts:ExternalId)."
    } else {
        "If the trust policy requires an ExternalId (Condition sts:ExternalId), set AWS_EXTERNAL_ID."
    };
    Error::auth(
        failure,
        vec![
            format!("The trust policy of AWS_ROLE_ARN {role} must allow sts:AssumeRole for {first},"),
            format!("and {first} must be allowed sts:AssumeRole on {role} by its own permissions."),
            external_id.to_owned(),
        ],
    )
}

/// The first signed call failed.
pub fn caller_identity_refused(failure: AwsFailure, plan: &AuthPlan, sts_endpoint: &str) -> Error {
    if failure.kind == FailureKind::NoResponse {
        return unreachable(failure, sts_endpoint);
    }
    match key_refusal(&failure, plan) {
        Some(details) => Error::auth(failure, details),
        None if is_refusal(&failure) => Error::auth(failure, vec![]),
        None => Error::failed(failure, vec![]),
    }
}

/// Long-lived keys that AWS does not accept.
fn key_refusal(failure: &AwsFailure, plan: &AuthPlan) -> Option<Vec<String>> {
    let CredentialSource::AccessKeys { access_key_id, .. } = &plan.source else {
        return None;
    };
    let keys_refused = ["InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"];
    keys_refused.iter().any(|code| failure.code_is(code)).then(|| {
        vec![format!(
            "AWS does not accept the access key {}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (and AWS_SESSION_TOKEN for temporary keys), or switch to OIDC with AWS_OIDC_ROLE_ARN.",
            masked_key_id(access_key_id)
        )]
    })
}

fn duration_refused(failure: AwsFailure, role: &str, plan: &AuthPlan) -> Error {
    let asked = plan.duration.as_secs();
    Error::BadInput {
        summary: failure.to_string(),
        details: vec![format!(
            "AWS_ROLE_DURATION_SECONDS ({asked}) is more than {role} allows: lower it, or raise the role's \
             MaxSessionDuration. Sessions of a role assumed from another role are capped at 3600."
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::Secret;

    fn claims(sub: &str, exp: i64) -> TokenClaims {
        TokenClaims {
            iss: Some("https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc".into()),
            aud: vec!["ari:cloud:bitbucket::workspace/w1".into()],
            sub: Some(sub.into()),
            exp: Some(exp),
            ..TokenClaims::default()
        }
    }

    fn plan() -> AuthPlan {
        AuthPlan {
            source: CredentialSource::WebIdentity {
                role: RoleArn::parse("arn:aws-cn:iam::111111111111:role/deploy").unwrap(),
                token: Secret::new("a.b.c"),
                claims: TokenClaims::default(),
            },
            chained: None,
            session_name: "s".into(),
            session_tags: vec![],
            session_tags_required: false,
            duration: std::time::Duration::from_secs(3600),
            duration_explicit: false,
            allowed_account_ids: vec![],
        }
    }

    fn denied(code: &str, message: &str) -> AwsFailure {
        AwsFailure {
            code: Some(code.into()),
            ..AwsFailure::local("sts:AssumeRoleWithWebIdentity", message)
        }
    }

    fn text(error: &Error) -> String {
        format!("{error}\n{}", error.details().join("\n"))
    }

    #[test]
    fn trust_policy_hint_for_a_deployment_step() {
        let role = RoleArn::parse("arn:aws-cn:iam::111111111111:role/deploy").unwrap();
        let error = web_identity_refused(
            denied(
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
            &role,
            &claims("{repo-1}:{env-2}:{step-3}", 4_000_000_000),
            &plan(),
            "sts",
        );
        assert_eq!(error.exit_code(), 3);
        let text = text(&error);
        for expected in [
            "AccessDenied: Not authorized",
            "aud: ari:cloud:bitbucket::workspace/w1",
            "sub: {repo-1}:{env-2}:{step-3}",
            "(valid, expires in",
            "arn:aws-cn:iam::111111111111:oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
            "\"api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc:sub\": \"{repo-1}:{env-2}:*\"",
            "\"{repo-1}:*\" (repository scope)",
            "this step runs in deployment environment {env-2}",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn expired_token_is_reported_as_expired() {
        let role = RoleArn::parse("arn:aws:iam::111111111111:role/deploy").unwrap();
        let error = web_identity_refused(
            denied("ExpiredTokenException", "Token expired"),
            &role,
            &claims("{r}:{s}", 1_000),
            &plan(),
            "sts",
        );
        let text = text(&error);
        assert!(text.contains("has expired") && text.contains("EXPIRED"), "{text}");
        assert_eq!(error.exit_code(), 3);
    }

    #[test]
    fn transport_failures_are_not_auth_refusals_and_name_the_endpoint() {
        let role = RoleArn::parse("arn:aws:iam::111111111111:role/deploy").unwrap();
        let failure = AwsFailure {
            kind: FailureKind::NoResponse,
            ..AwsFailure::local("x", "timeout")
        };
        let error = web_identity_refused(
            failure,
            &role,
            &claims("a:b", 0),
            &plan(),
            "http://10.0.0.1 (AWS_ENDPOINT_URL)",
        );
        assert_eq!(error.exit_code(), 1);
        assert!(text(&error).contains("http://10.0.0.1 (AWS_ENDPOINT_URL)"));
    }

    #[test]
    fn tag_session_refusal_names_both_fixes() {
        let chained = ChainedRole {
            role: RoleArn::parse("arn:aws:iam::222222222222:role/t").unwrap(),
            external_id: None,
        };
        let failure = denied(
            "AccessDenied",
            "User: x is not authorized to perform: sts:TagSession on resource: y",
        );
        let text = text(&assume_role_refused(failure, &chained, &plan(), "sts"));
        assert!(
            text.contains("\"sts:TagSession\"") && text.contains("AWS_SESSION_TAGS"),
            "{text}"
        );
    }

    #[test]
    fn duration_refusal_is_bad_input_naming_the_variable() {
        let chained = ChainedRole {
            role: RoleArn::parse("arn:aws:iam::222222222222:role/t").unwrap(),
            external_id: None,
        };
        let failure = denied(
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        );
        let error = assume_role_refused(failure, &chained, &plan(), "sts");
        assert_eq!(error.exit_code(), 2);
        assert!(text(&error).contains("AWS_ROLE_DURATION_SECONDS"));
    }
}
