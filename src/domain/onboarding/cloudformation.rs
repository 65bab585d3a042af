//! (e) The setup as CloudFormation: a stack with the identity provider (unless the account has
//! it already), the role and its permissions; with chaining, a second stack for the other
//! account. JSON templates (valid YAML too), in a YAML stream when there are two.
//!
//! The ExternalId is a `NoEcho` parameter: it is never written into the template.

use serde_json::{Value, json};

use super::{ACCOUNT_PLACEHOLDER, Setup, Spelling, permissions, trust_policy};

fn spelling(setup: &Setup) -> Spelling {
    setup.spelling("${AWS::Partition}", "${AWS::AccountId}", "${ExternalId}")
}

/// Strings that name `${...}` become `Fn::Sub`, so CloudFormation fills them in.
fn substituted(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains("${") => json!({ "Fn::Sub": text }),
        Value::Array(items) => Value::Array(items.into_iter().map(substituted).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, substituted(v))).collect()),
        other => other,
    }
}

fn role(name: &str, trust: Value, permissions: Option<Value>) -> Value {
    let mut properties = json!({
        "RoleName": name,
        "Description": "Assumed by aws-role-deploy from Bitbucket Pipelines",
        "MaxSessionDuration": 3600,
        "AssumeRolePolicyDocument": trust,
    });
    if let Some(policy) = permissions {
        properties["Policies"] = json!([{ "PolicyName": "deploy", "PolicyDocument": policy }]);
    }
    json!({ "Type": "AWS::IAM::Role", "Properties": properties })
}

/// The stack of the OIDC role's account.
pub fn oidc_stack(setup: &Setup) -> Value {
    let spelling = spelling(setup);
    let scope = &setup.scope;
    let trust = substituted(trust_policy::web_identity(setup, &spelling).to_value());
    let permissions = permissions::oidc_role(setup, &spelling).map(|policy| substituted(policy.to_value()));
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("Bitbucket Pipelines OIDC for aws-role-deploy: {}", scope.describe()),
        "Parameters": {
            "CreateOidcProvider": {
                "Type": "String",
                "AllowedValues": ["true", "false"],
                "Default": "true",
                "Description": "false when the account already has the provider for this workspace (one per URL)"
            }
        },
        "Conditions": {
            "CreateProvider": { "Fn::Equals": [{ "Ref": "CreateOidcProvider" }, "true"] }
        },
        "Resources": {
            "BitbucketOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateProvider",
                "Properties": { "Url": scope.issuer(), "ClientIdList": [scope.audience] }
            },
            "DeployRole": role(&setup.role_name, trust, permissions)
        },
        "Outputs": {
            "RoleArn": {
                "Description": "AWS_OIDC_ROLE_ARN",
                "Value": { "Fn::GetAtt": ["DeployRole", "Arn"] }
            },
            "ProviderArn": {
                "Value": substituted(Value::String(scope.provider_arn(&spelling.partition, &spelling.account)))
            }
        }
    })
}

/// The stack of the chained role's account.
pub fn chained_stack(setup: &Setup) -> Option<Value> {
    let chained = setup.chained.as_ref()?;
    // This stack runs in the chained role's own account.
    let spelling = Spelling {
        chained_account: "${AWS::AccountId}".to_owned(),
        ..spelling(setup)
    };
    // The first role lives in another account: its ARN is a parameter, filled in when known.
    let first = Spelling {
        account: setup.account.clone().unwrap_or_else(|| ACCOUNT_PLACEHOLDER.to_owned()),
        partition: setup.partition.clone(),
        ..spelling.clone()
    };
    let mut trust = trust_policy::chained(setup, &spelling)?.to_value();
    trust["Statement"][0]["Principal"]["AWS"] = Value::String("${BitbucketDeployRoleArn}".to_owned());
    let trust = substituted(trust);
    let permissions = permissions::chained_role(setup, &spelling).map(|policy| substituted(policy.to_value()));
    let mut parameters = json!({
        "BitbucketDeployRoleArn": {
            "Type": "String",
            "Default": setup.role_arn(&first),
            "Description": "AWS_OIDC_ROLE_ARN: the role the pipe assumes first"
        }
    });
    if chained.external_id {
        parameters["ExternalId"] = json!({
            "Type": "String",
            "NoEcho": true,
            "MinLength": 2,
            "MaxLength": 1224,
            "AllowedPattern": "[\\w+=,.@:/-]*",
            "Description": "AWS_EXTERNAL_ID (a secret: never written into the template)"
        });
    }
    Some(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The role aws-role-deploy chains into from the Bitbucket OIDC role",
        "Parameters": parameters,
        "Resources": { "DeployTargetRole": role(&chained.role_name, trust, permissions) },
        "Outputs": {
            "RoleArn": {
                "Description": "AWS_ROLE_ARN",
                "Value": { "Fn::GetAtt": ["DeployTargetRole", "Arn"] }
            }
        }
    }))
}

/// One template, or two as a YAML stream (each part is a template of its own).
pub fn render(setup: &Setup) -> String {
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
    match chained_stack(setup) {
        None => format!("{}\n", pretty(&oidc_stack(setup))),
        Some(chained) => format!(
            "# Stack 1, in the account of AWS_OIDC_ROLE_ARN: the identity provider and the OIDC role.\n{}\n---\n\
             # Stack 2, in account {}: the role AWS_ROLE_ARN names. Save each part as its own template.\n{}\n",
            pretty(&oidc_stack(setup)),
            setup.chained.as_ref().map(|c| c.account.as_str()).unwrap_or_default(),
            pretty(&chained)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::setup;
    use super::super::{ChainedSetup, DeployAction};
    use super::*;

    #[test]
    fn one_stack_with_provider_and_role() {
        let mut setup = setup();
        setup.account = None;
        setup.actions = vec![DeployAction::LambdaDeploy];
        let stack = oidc_stack(&setup);
        let resources = &stack["Resources"];
        assert_eq!(resources["BitbucketOidcProvider"]["Type"], "AWS::IAM::OIDCProvider");
        let trust = &resources["DeployRole"]["Properties"]["AssumeRolePolicyDocument"];
        assert_eq!(
            trust["Statement"][0]["Principal"]["Federated"]["Fn::Sub"],
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
        );
        assert!(resources["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].is_array());
    }

    #[test]
    fn the_external_id_is_a_hidden_parameter() {
        let mut setup = setup();
        setup.chained = Some(ChainedSetup {
            account: "222222222222".into(),
            role_name: "target".into(),
            external_id: true,
        });
        let stack = chained_stack(&setup).unwrap();
        assert_eq!(stack["Parameters"]["ExternalId"]["NoEcho"], true);
        let trust = &stack["Resources"]["DeployTargetRole"]["Properties"]["AssumeRolePolicyDocument"];
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]["Fn::Sub"],
            "${ExternalId}"
        );
        assert!(render(&setup).contains("\n---\n"));
    }
}
