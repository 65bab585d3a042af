//! The JSON output: (a) the identity provider, (b)/(c) the role's trust and permissions
//! policies, (d) the chained role's, and the notes, as one document (`jq .role.trust_policy`).

use serde::Serialize;

use super::policy::Policy;
use super::{Setup, Spelling, permissions, trust_policy};

#[derive(Debug, Serialize)]
pub struct Document {
    pub identity_provider: Provider,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chained_role: Option<Role>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Provider {
    pub url: String,
    pub audience: String,
    pub arn: String,
    /// IAM takes the certificate's own when none is given; `--thumbprint` when it was.
    pub thumbprints: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub trust_policy: Policy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_policy: Option<Policy>,
}

pub fn build(setup: &Setup, spelling: &Spelling) -> Document {
    let scope = &setup.scope;
    Document {
        identity_provider: Provider {
            url: scope.issuer(),
            audience: scope.audience.clone(),
            arn: scope.provider_arn(&spelling.partition, &spelling.account),
            thumbprints: setup.provider_thumbprint.iter().cloned().collect(),
        },
        role: Role {
            name: setup.role_name.clone(),
            arn: setup.role_arn(spelling),
            trust_policy: trust_policy::web_identity(setup, spelling),
            permissions_policy: permissions::oidc_role(setup, spelling),
        },
        chained_role: setup.chained.as_ref().and_then(|chained| {
            Some(Role {
                name: chained.role_name.clone(),
                arn: setup.chained_role_arn(spelling)?,
                trust_policy: trust_policy::chained(setup, spelling)?,
                permissions_policy: permissions::chained_role(setup, spelling),
            })
        }),
        notes: setup.notes(),
    }
}

pub fn to_json(setup: &Setup, spelling: &Spelling) -> String {
    serde_json::to_string_pretty(&build(setup, spelling)).unwrap_or_default()
}
