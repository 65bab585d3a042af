//! The authentication variables → the `AuthPlan`: where the first credentials come from, the
//! chained role, the session's name, tags and lifetime, and the accounts the pipe may act in.

use std::time::Duration;

use super::reader::Reader;
use crate::domain::arn::{RoleArn, is_account_id, partition_of_region};
use crate::domain::auth_plan::{AuthPlan, ChainedRole, CredentialSource};
use crate::domain::context::BitbucketContext;
use crate::domain::secret::Secret;
use crate::domain::sts::{
    CHAINED_SESSION_MAX_SECONDS, SESSION_SECONDS, is_access_key_id, is_external_id, session_name, session_tags,
};
use crate::domain::token::TokenClaims;
use crate::vars;

pub(super) fn read(read: &mut Reader<'_>, context: &BitbucketContext, warnings: &mut Vec<String>) -> Option<AuthPlan> {
    let oidc_role_set = read.raw(&vars::AWS_OIDC_ROLE_ARN).is_some();
    let oidc_role = read.role_arn(&vars::AWS_OIDC_ROLE_ARN);
    let chained_role_set = read.raw(&vars::AWS_ROLE_ARN).is_some();
    let chained_role = read.role_arn(&vars::AWS_ROLE_ARN);
    let access_key_id = read.text(&vars::AWS_ACCESS_KEY_ID);
    let secret_access_key = read.secret(&vars::AWS_SECRET_ACCESS_KEY);
    let session_token = read.secret(&vars::AWS_SESSION_TOKEN);
    // A session token alone is half a key pair: it counts as keys, so it is reported, not ignored.
    let keys_set = access_key_id.is_some() || secret_access_key.is_some() || session_token.is_some();

    let source = if oidc_role_set {
        if keys_set {
            warnings.push(
                "AWS_OIDC_ROLE_ARN is set, so the access keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                 AWS_SESSION_TOKEN) are ignored. Remove them from the repository variables and deactivate them in IAM."
                    .to_owned(),
            );
        }
        read_web_identity(read, oidc_role, context)
    } else if keys_set {
        read_access_keys(read, access_key_id, secret_access_key, session_token, warnings)
    } else {
        let message = if chained_role_set {
            "must be set to assume AWS_ROLE_ARN: the pipe needs credentials to assume it with. \
             Set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step (or, legacy, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        } else if context.step_oidc_token.is_some() {
            "is required: the step has an OIDC token; set AWS_OIDC_ROLE_ARN to the role it may assume"
        } else {
            "is required: set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step \
             (or, legacy, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        };
        read.problem(vars::AWS_OIDC_ROLE_ARN.name, message);
        None
    };

    let external_id = read.secret(&vars::AWS_EXTERNAL_ID);
    if let Some(external_id) = &external_id {
        // An ExternalId may be as short as two characters: it is a `Secret`, never printed where
        // it is named ("(value hidden)"), and not masked as a substring of other text, where it
        // would corrupt an account id that happens to contain it.
        if !chained_role_set {
            read.problem(
                vars::AWS_EXTERNAL_ID.name,
                "is only used to assume AWS_ROLE_ARN, which is not set",
            );
        } else if !is_external_id(external_id.expose()) {
            read.problem(
                vars::AWS_EXTERNAL_ID.name,
                "must be 2-1224 characters of letters, digits and _+=,.@:/-",
            );
        }
    }

    let duration_explicit = read.raw(&vars::AWS_ROLE_DURATION_SECONDS).is_some();
    let duration = read.number(&vars::AWS_ROLE_DURATION_SECONDS, SESSION_SECONDS);
    let chaining = oidc_role_set && chained_role_set;
    if chaining && duration > CHAINED_SESSION_MAX_SECONDS {
        read.problem(
            vars::AWS_ROLE_DURATION_SECONDS.name,
            format!(
                "is {duration}, but AWS caps a role assumed from another role's session (AWS_ROLE_ARN after \
                 AWS_OIDC_ROLE_ARN) at {CHAINED_SESSION_MAX_SECONDS} seconds; the pipe refreshes the session \
                 for longer runs"
            ),
        );
    }
    // Temporary keys may themselves be a role's session; then AWS applies the same cap.
    let maybe_chaining = !oidc_role_set && chained_role_set && read.raw(&vars::AWS_SESSION_TOKEN).is_some();
    if maybe_chaining && duration > CHAINED_SESSION_MAX_SECONDS {
        warnings.push(format!(
            "AWS_ROLE_DURATION_SECONDS is {duration}: if the temporary keys (AWS_SESSION_TOKEN) belong to a role \
             session, AWS refuses more than {CHAINED_SESSION_MAX_SECONDS} for AWS_ROLE_ARN."
        ));
    }

    let session_name = session_name(read.raw(&vars::AWS_ROLE_SESSION_NAME), context)
        .map_err(|message| read.problem(vars::AWS_ROLE_SESSION_NAME.name, message))
        .ok();
    let tags_on = read.bool(&vars::AWS_SESSION_TAGS);
    let session_tags_required = tags_on && read.raw(&vars::AWS_SESSION_TAGS).is_some();
    let session_tags = if tags_on && chained_role_set {
        session_tags(context)
    } else {
        Vec::new()
    };

    let allowed_account_ids = read.list(&vars::ALLOWED_ACCOUNT_IDS);
    for id in allowed_account_ids.iter().filter(|id| !is_account_id(id)) {
        read.problem(
            vars::ALLOWED_ACCOUNT_IDS.name,
            format!("{id:?} is not an account id (12 digits)"),
        );
    }

    let chained = chained_role.map(|role| ChainedRole { role, external_id });
    Some(AuthPlan {
        source: source?,
        chained,
        session_name: session_name?,
        session_tags,
        session_tags_required,
        duration: Duration::from_secs(duration),
        duration_explicit,
        allowed_account_ids,
    })
}

fn read_web_identity(
    read: &mut Reader<'_>,
    role: Option<RoleArn>,
    context: &BitbucketContext,
) -> Option<CredentialSource> {
    let Some(token) = context.step_oidc_token.clone() else {
        read.problem(
            vars::AWS_OIDC_ROLE_ARN.name,
            "is set, but the step has no OIDC token (BITBUCKET_STEP_OIDC_TOKEN is empty): add `oidc: true` \
             to this step in bitbucket-pipelines.yml. The pipe does not fall back to access keys.",
        );
        return None;
    };
    let claims = TokenClaims::decode(token.expose())
        .map_err(|message| read.problem("BITBUCKET_STEP_OIDC_TOKEN", message))
        .ok()?;
    Some(CredentialSource::WebIdentity {
        role: role?,
        token,
        claims,
    })
}

fn read_access_keys(
    read: &mut Reader<'_>,
    access_key_id: Option<String>,
    secret_access_key: Option<Secret>,
    session_token: Option<Secret>,
    warnings: &mut Vec<String>,
) -> Option<CredentialSource> {
    match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => {
            if !is_access_key_id(&access_key_id) {
                // Not quoted back: this is where a secret key lands when the two are swapped.
                read.problem(
                    vars::AWS_ACCESS_KEY_ID.name,
                    format!(
                        "must be 16-128 upper-case letters and digits (AKIA…), got {} characters that are not; \
                         is the secret key in AWS_ACCESS_KEY_ID?",
                        access_key_id.chars().count()
                    ),
                );
                return None;
            }
            warnings.push(
                "Using long-lived access keys (AWS_ACCESS_KEY_ID). Switch to OpenID Connect: set AWS_OIDC_ROLE_ARN \
                 and add `oidc: true` to the step; see docs/authentication.md."
                    .to_owned(),
            );
            Some(CredentialSource::AccessKeys {
                access_key_id,
                secret_access_key,
                session_token,
            })
        }
        (Some(_), None) => {
            read.problem(vars::AWS_SECRET_ACCESS_KEY.name, "is required with AWS_ACCESS_KEY_ID");
            None
        }
        (None, _) => {
            read.problem(
                vars::AWS_ACCESS_KEY_ID.name,
                "is required with the other access key variables (or use AWS_OIDC_ROLE_ARN instead)",
            );
            None
        }
    }
}

/// A role in one partition cannot be reached from a region of another.
pub(super) fn check_partitions(read: &mut Reader<'_>, region: &str, auth: &AuthPlan) {
    let expected = partition_of_region(region);
    let mut roles = Vec::new();
    if let CredentialSource::WebIdentity { role, .. } = &auth.source {
        roles.push((&vars::AWS_OIDC_ROLE_ARN, role));
    }
    if let Some(chained) = &auth.chained {
        roles.push((&vars::AWS_ROLE_ARN, &chained.role));
    }
    for (var, role) in roles {
        if role.partition != expected {
            read.problem(
                var.name,
                format!(
                    "is in partition {:?}, but region {region:?} belongs to partition {expected:?}",
                    role.partition
                ),
            );
        }
    }
}
