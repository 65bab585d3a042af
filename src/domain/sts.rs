//! STS's rules: session lifetimes, the one-hour cap of role chaining, the shapes of ExternalIds
//! and access key ids, and how the pipe's sessions are named and tagged, so that CloudTrail
//! shows which repository and build acted.

use std::ops::RangeInclusive;

use crate::domain::context::BitbucketContext;

pub fn is_external_id(value: &str) -> bool {
    (2..=1224).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// Access key ids are upper-case letters and digits (`AKIA…`, `ASIA…`). A secret key pasted
/// into the wrong variable has lower-case letters or `/+`, so it fails this and is not echoed.
pub fn is_access_key_id(value: &str) -> bool {
    (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `AKIA…WXYZ`: enough to tell keys apart in a log, not the whole id.
pub fn masked_key_id(access_key_id: &str) -> String {
    let start: String = access_key_id.chars().take(4).collect();
    let end: String = access_key_id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{start}…{end}")
}

/// The longest session STS grants, and the shortest.
pub const SESSION_SECONDS: RangeInclusive<u64> = 900..=43_200;
pub const CHAINED_SESSION_MAX_SECONDS: u64 = 3_600;

/// STS limits for `RoleSessionName`.
const SESSION_NAME_MAX: usize = 64;
const SESSION_NAME_MIN: usize = 2;
/// STS limits for session tag values.
const TAG_VALUE_MAX: usize = 256;

/// The session name: the user's, or `bitbucket-<repo slug>-<build number>`. Characters STS
/// refuses become `-`. When the name is too long the slug is shortened, never the build number,
/// because the build number is what finds the build again.
pub fn session_name(explicit: Option<&str>, context: &BitbucketContext) -> Result<String, String> {
    if let Some(explicit) = explicit {
        let name: String = sanitize_name(explicit).chars().take(SESSION_NAME_MAX).collect();
        if name.chars().count() < SESSION_NAME_MIN {
            return Err(format!(
                "must have at least {SESSION_NAME_MIN} characters, got {explicit:?}"
            ));
        }
        return Ok(name);
    }
    let slug = context.repo_slug.as_deref().map(sanitize_name);
    let build = context.build_number.as_deref().map(sanitize_name);
    Ok(match (slug, build) {
        (Some(slug), Some(build)) => {
            let fixed = "bitbucket-".len() + 1 + build.chars().count();
            let room = SESSION_NAME_MAX.saturating_sub(fixed);
            let slug: String = slug.chars().take(room).collect();
            let name = format!("bitbucket-{slug}-{build}");
            name.chars().take(SESSION_NAME_MAX).collect()
        }
        (Some(slug), None) => format!("bitbucket-{slug}").chars().take(SESSION_NAME_MAX).collect(),
        (None, Some(build)) => format!("bitbucket-build-{build}")
            .chars()
            .take(SESSION_NAME_MAX)
            .collect(),
        // Outside Bitbucket (a local try-out) there is no context to name the session after.
        (None, None) => "aws-role-deploy".to_owned(),
    })
}

fn sanitize_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Session tags from the Bitbucket context. Absent context means no tag.
pub fn session_tags(context: &BitbucketContext) -> Vec<(String, String)> {
    let ref_tag = match (&context.tag, &context.branch) {
        (Some(tag), _) => Some(("Tag", tag)),
        (None, Some(branch)) => Some(("Branch", branch)),
        (None, None) => None,
    };
    let candidates = [
        context.repo_full_name.as_ref().map(|value| ("Repository", value)),
        ref_tag,
        context.commit.as_ref().map(|value| ("Commit", value)),
        context.build_number.as_ref().map(|value| ("BuildNumber", value)),
        context.step_uuid.as_ref().map(|value| ("StepUuid", value)),
        context
            .deployment_environment
            .as_ref()
            .map(|value| ("DeploymentEnvironment", value)),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let value = sanitize_tag_value(value);
            (!value.is_empty()).then(|| (key.to_owned(), value))
        })
        .collect()
}

/// STS accepts letters, numbers, separators and `_.:/=+-@` in tag values, up to 256 characters.
/// Bitbucket wraps UUIDs in braces, which STS refuses, so they are dropped rather than replaced.
fn sanitize_tag_value(raw: &str) -> String {
    let unbraced = raw.trim().trim_start_matches('{').trim_end_matches('}');
    unbraced
        .chars()
        .map(|c| {
            let allowed = c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c);
            if allowed { c } else { '_' }
        })
        .take(TAG_VALUE_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(slug: Option<&str>, build: Option<&str>) -> BitbucketContext {
        BitbucketContext {
            repo_slug: slug.map(str::to_owned),
            build_number: build.map(str::to_owned),
            ..BitbucketContext::default()
        }
    }

    #[test]
    fn session_names() {
        let long_slug = "a".repeat(80);
        let cases: &[(Option<&str>, Option<&str>, Option<&str>, &str)] = &[
            (None, Some("web-app"), Some("42"), "bitbucket-web-app-42"),
            (None, Some("my repo/ü"), Some("7"), "bitbucket-my-repo---7"),
            (None, None, None, "aws-role-deploy"),
            (None, Some("svc"), None, "bitbucket-svc"),
            (None, None, Some("9"), "bitbucket-build-9"),
            (Some("deploy (prod)"), Some("ignored"), Some("1"), "deploy--prod-"),
            (Some("ok.name@x=y,z+1_-"), None, None, "ok.name@x=y,z+1_-"),
        ];
        for (explicit, slug, build, expected) in cases {
            assert_eq!(session_name(*explicit, &context(*slug, *build)).unwrap(), *expected);
        }
        let name = session_name(None, &context(Some(&long_slug), Some("123456"))).unwrap();
        assert_eq!(name.len(), 64);
        assert!(name.ends_with("-123456"), "{name}");
        assert!(name.starts_with("bitbucket-aaaa"), "{name}");
        let explicit_long = "x".repeat(100);
        assert_eq!(
            session_name(Some(&explicit_long), &context(None, None)).unwrap().len(),
            64
        );
    }

    #[test]
    fn too_short_session_name_is_refused() {
        assert!(session_name(Some("a"), &context(None, None)).is_err());
    }

    #[test]
    fn tags_from_context() {
        let context = BitbucketContext {
            repo_full_name: Some("acme/web-app".into()),
            branch: Some("feature/x#1".into()),
            commit: Some("0123abcd".into()),
            build_number: Some("42".into()),
            step_uuid: Some("{1b5f-22}".into()),
            deployment_environment: Some("production".into()),
            ..BitbucketContext::default()
        };
        let tags = session_tags(&context);
        let expected = [
            ("Repository", "acme/web-app"),
            ("Branch", "feature/x_1"),
            ("Commit", "0123abcd"),
            ("BuildNumber", "42"),
            ("StepUuid", "1b5f-22"),
            ("DeploymentEnvironment", "production"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(tags, expected);
    }

    #[test]
    fn tag_wins_over_branch_and_absent_context_gives_no_tags() {
        let context = BitbucketContext {
            tag: Some("1.2.0".into()),
            branch: Some("main".into()),
            ..BitbucketContext::default()
        };
        assert_eq!(session_tags(&context), vec![("Tag".to_owned(), "1.2.0".to_owned())]);
        assert!(session_tags(&BitbucketContext::default()).is_empty());
    }

    #[test]
    fn tag_values_are_cut_to_sts_limit() {
        let context = BitbucketContext {
            commit: Some("c".repeat(300)),
            ..BitbucketContext::default()
        };
        assert_eq!(session_tags(&context)[0].1.len(), 256);
    }
}
