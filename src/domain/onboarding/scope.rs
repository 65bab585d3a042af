//! Who may assume the role: the workspace's identity provider and the `aud`/`sub` a step's token
//! must carry. UUIDs are accepted with or without braces; the audience has none, `sub` has them,
//! as in Bitbucket's tokens.

/// A Bitbucket UUID, kept bare (lower case, no braces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitbucketUuid(String);

impl BitbucketUuid {
    pub fn parse(value: &str) -> Result<BitbucketUuid, String> {
        let trimmed = value.trim();
        let bare = trimmed
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        let groups: Vec<&str> = bare.split('-').collect();
        let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        if !lengths_ok || !bare.chars().all(|c| c == '-' || c.is_ascii_hexdigit()) {
            return Err(format!(
                "must be a UUID such as {{1b5f0f3a-5c1e-4f6e-9a57-2f4b1d2c3e4f}} (braces optional), got {value:?}"
            ));
        }
        Ok(BitbucketUuid(bare))
    }

    pub fn bare(&self) -> &str {
        &self.0
    }

    /// As Bitbucket writes it in `sub` and in its other claims.
    pub fn braced(&self) -> String {
        format!("{{{}}}", self.0)
    }
}

/// A workspace slug as it appears in the issuer URL. Bitbucket's workspace IDs are lowercase
/// (its "Change a workspace ID" page), and bitbucket.org answers `/Acme/` as `/acme/`, but the
/// token's `iss` has the lowercase slug and the IAM provider URL must equal it: lowercased here,
/// so a slug typed as seen elsewhere still gives a provider STS finds.
pub fn check_workspace_slug(value: &str) -> Result<String, String> {
    let value = &value.to_ascii_lowercase();
    let ok = !value.is_empty()
        && value.len() <= 62
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "must be the workspace's slug (the part of its URL after bitbucket.org/), got {value:?}"
        ))
    }
}

/// The issuer of a workspace's step tokens, which is also the IAM identity provider's URL.
pub fn issuer_url(workspace: &str) -> String {
    format!("https://api.bitbucket.org/2.0/workspaces/{workspace}/pipelines-config/identity/oidc")
}

/// The audience Bitbucket puts in every step token of a workspace (unless the step asks for
/// custom audiences).
pub fn default_audience(workspace_uuid: &BitbucketUuid) -> String {
    format!("ari:cloud:bitbucket::workspace/{}", workspace_uuid.bare())
}

/// The steps a role admits: one repository, or one deployment environment of it. Never a whole
/// workspace: there is no way to build one without a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub workspace: String,
    pub workspace_uuid: BitbucketUuid,
    pub repository_uuid: BitbucketUuid,
    pub environment_uuid: Option<BitbucketUuid>,
    pub audience: String,
}

impl Scope {
    pub fn issuer(&self) -> String {
        issuer_url(&self.workspace)
    }

    /// The issuer without `https://`: how IAM names the provider and its condition keys.
    pub fn issuer_host_path(&self) -> String {
        self.issuer().trim_start_matches("https://").to_owned()
    }

    pub fn provider_arn(&self, partition: &str, account: &str) -> String {
        format!(
            "arn:{partition}:iam::{account}:oidc-provider/{}",
            self.issuer_host_path()
        )
    }

    /// The `StringLike` pattern of `sub`. `*` stands for the step UUID (and, in repository
    /// scope, an optional deployment environment before it).
    pub fn sub_pattern(&self) -> String {
        match &self.environment_uuid {
            Some(environment) => format!("{}:{}:*", self.repository_uuid.braced(), environment.braced()),
            None => format!("{}:*", self.repository_uuid.braced()),
        }
    }

    pub fn describe(&self) -> String {
        match &self.environment_uuid {
            Some(environment) => format!(
                "the steps of deployment environment {} of repository {} (workspace {})",
                environment.braced(),
                self.repository_uuid.braced(),
                self.workspace
            ),
            None => format!(
                "every step of repository {} (workspace {}), on any branch, deployment steps included",
                self.repository_uuid.braced(),
                self.workspace
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "1b5f0f3a-5c1e-4f6e-9a57-2f4b1d2c3e4f";

    #[test]
    fn workspace_slugs_are_lowercased_as_in_the_issuer() {
        assert_eq!(check_workspace_slug("Acme-Corp").unwrap(), "acme-corp");
        assert_eq!(
            issuer_url(&check_workspace_slug("ACME").unwrap()),
            "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
        );
    }

    #[test]
    fn uuids_with_or_without_braces_are_the_same() {
        for form in [
            UUID,
            "{1b5f0f3a-5c1e-4f6e-9a57-2f4b1d2c3e4f}",
            " {1B5F0F3A-5C1E-4F6E-9A57-2F4B1D2C3E4F} ",
        ] {
            let uuid = BitbucketUuid::parse(form).unwrap();
            assert_eq!(uuid.bare(), UUID);
            assert_eq!(uuid.braced(), format!("{{{UUID}}}"));
        }
        for bad in [
            "",
            "{}",
            "1b5f0f3a",
            "{1b5f0f3a-5c1e-4f6e-9a57-2f4b1d2c3e4f",
            "zb5f0f3a-5c1e-4f6e-9a57-2f4b1d2c3e4f",
        ] {
            assert!(BitbucketUuid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audience_has_no_braces_and_sub_has_them() {
        let uuid = BitbucketUuid::parse(UUID).unwrap();
        let scope = Scope {
            workspace: "acme".into(),
            workspace_uuid: uuid.clone(),
            repository_uuid: uuid.clone(),
            environment_uuid: None,
            audience: default_audience(&uuid),
        };
        assert_eq!(scope.audience, format!("ari:cloud:bitbucket::workspace/{UUID}"));
        assert_eq!(scope.sub_pattern(), format!("{{{UUID}}}:*"));
        let environment = Scope {
            environment_uuid: Some(uuid.clone()),
            ..scope.clone()
        };
        assert_eq!(environment.sub_pattern(), format!("{{{UUID}}}:{{{UUID}}}:*"));
        assert_eq!(
            scope.provider_arn("aws-cn", "111111111111"),
            "arn:aws-cn:iam::111111111111:oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
        );
    }

    #[test]
    fn slugs_are_checked() {
        assert!(check_workspace_slug("acme-inc_2").is_ok());
        for bad in ["", "a/b", "acme inc", "x?"] {
            assert!(check_workspace_slug(bad).is_err(), "{bad}");
        }
    }
}
