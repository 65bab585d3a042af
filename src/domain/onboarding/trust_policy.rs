//! (b) The OIDC role's trust policy, admitting one repository or one deployment environment of
//! it, and (d) the chained role's, admitting only the OIDC role.

use super::policy::{Policy, Statement};
use super::{Setup, Spelling};

/// `sts:AssumeRoleWithWebIdentity` for the workspace's provider, when `aud` is the workspace's
/// audience and `sub` names the repository (and environment). `StringEquals` for `aud` (one
/// exact value), `StringLike` for `sub` (its step part varies).
pub fn web_identity(setup: &Setup, spelling: &Spelling) -> Policy {
    let scope = &setup.scope;
    let issuer = scope.issuer_host_path();
    let statement = Statement::trust(
        "BitbucketPipelinesOidc",
        "Federated",
        scope.provider_arn(&spelling.partition, &spelling.account),
        &["sts:AssumeRoleWithWebIdentity"],
    )
    .when("StringEquals", &format!("{issuer}:aud"), vec![scope.audience.clone()])
    .when("StringLike", &format!("{issuer}:sub"), vec![scope.sub_pattern()]);
    Policy::new(vec![statement])
}

/// The chained role admits the OIDC role only: `sts:AssumeRole`, with `sts:TagSession` when the
/// pipe tags sessions, and the ExternalId condition when one is used.
pub fn chained(setup: &Setup, spelling: &Spelling) -> Option<Policy> {
    let chained = setup.chained.as_ref()?;
    let actions: &[&str] = if setup.session_tags {
        &["sts:AssumeRole", "sts:TagSession"]
    } else {
        &["sts:AssumeRole"]
    };
    let mut statement = Statement::trust("BitbucketDeployRole", "AWS", setup.role_arn(spelling), actions);
    if chained.external_id {
        statement = statement.when("StringEquals", "sts:ExternalId", vec![spelling.external_id.clone()]);
    }
    Some(Policy::new(vec![statement]))
}

#[cfg(test)]
mod tests {
    use super::super::scope::BitbucketUuid;
    use super::super::tests::{ENV_UUID, REPO_UUID, WORKSPACE_UUID, setup};
    use super::super::{ChainedSetup, EXTERNAL_ID_PLACEHOLDER};
    use super::*;

    const ISSUER: &str = "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc";

    #[test]
    fn repository_scope() {
        let setup = setup();
        let policy = web_identity(&setup, &setup.literal_spelling(None)).to_value();
        let statement = &policy["Statement"][0];
        assert_eq!(policy["Version"], "2012-10-17");
        assert_eq!(
            statement["Principal"]["Federated"],
            format!("arn:aws:iam::111111111111:oidc-provider/{ISSUER}")
        );
        assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            statement["Condition"]["StringEquals"][format!("{ISSUER}:aud")],
            format!("ari:cloud:bitbucket::workspace/{WORKSPACE_UUID}")
        );
        assert_eq!(
            statement["Condition"]["StringLike"][format!("{ISSUER}:sub")],
            format!("{{{REPO_UUID}}}:*")
        );
    }

    #[test]
    fn environment_scope() {
        let mut setup = setup();
        setup.scope.environment_uuid = Some(BitbucketUuid::parse(ENV_UUID).unwrap());
        let policy = web_identity(&setup, &setup.literal_spelling(None)).to_value();
        assert_eq!(
            policy["Statement"][0]["Condition"]["StringLike"][format!("{ISSUER}:sub")],
            format!("{{{REPO_UUID}}}:{{{ENV_UUID}}}:*")
        );
    }

    #[test]
    fn chained_role_admits_the_first_role_with_the_external_id() {
        let mut setup = setup();
        assert!(chained(&setup, &setup.literal_spelling(None)).is_none());
        setup.chained = Some(ChainedSetup {
            account: "222222222222".into(),
            role_name: "target".into(),
            external_id: true,
        });
        let policy = chained(&setup, &setup.literal_spelling(None)).unwrap().to_value();
        let statement = &policy["Statement"][0];
        assert_eq!(
            statement["Principal"]["AWS"],
            "arn:aws:iam::111111111111:role/bitbucket-deploy"
        );
        assert_eq!(
            statement["Action"],
            serde_json::json!(["sts:AssumeRole", "sts:TagSession"])
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["sts:ExternalId"],
            EXTERNAL_ID_PLACEHOLDER
        );
        setup.session_tags = false;
        let spelled = setup.literal_spelling(Some("given-id"));
        let policy = chained(&setup, &spelled).unwrap().to_value();
        assert_eq!(policy["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(
            policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            "given-id"
        );
    }
}
