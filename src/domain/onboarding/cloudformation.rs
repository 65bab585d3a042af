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

/// The SHA-1 thumbprint CloudFormation needs for the provider (`ThumbprintList`): without one it
/// refuses to create `AWS::IAM::OIDCProvider`, and updates of a provider created without one
/// fail (cloudformation-coverage-roadmap#2092), although IAM itself no longer requires it.
const THUMBPRINT_PARAMETER: &str = "ProviderThumbprint";

/// The stack of the OIDC role's account.
pub fn oidc_stack(setup: &Setup) -> Value {
    let spelling = spelling(setup);
    let scope = &setup.scope;
    let mut trust = substituted(trust_policy::web_identity(setup, &spelling).to_value());
    // The role depends on the provider it trusts (STS finds no provider for a role created
    // first). Not `DependsOn`: CloudFormation refuses a template whose DependsOn names a
    // resource its condition leaves out ("Unresolved resource dependencies", cfn-lint E3005),
    // which CreateOidcProvider=false does; a `Ref` inside `Fn::If` of the same condition orders
    // them when the provider is created, and names the existing one otherwise.
    if let Some(federated) = trust.pointer_mut("/Statement/0/Principal/Federated").map(Value::take) {
        trust["Statement"][0]["Principal"]["Federated"] = json!({
            "Fn::If": ["CreateProvider", { "Ref": "BitbucketOidcProvider" }, federated]
        });
    }
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
            },
            THUMBPRINT_PARAMETER: {
                "Type": "String",
                "Default": setup.provider_thumbprint.clone().unwrap_or_default(),
                "AllowedPattern": "^([0-9a-fA-F]{40})?$",
                "ConstraintDescription": "40 hexadecimal digits (a SHA-1 thumbprint)",
                "Description": format!(
                    "With CreateOidcProvider=true: the SHA-1 thumbprint of the top intermediate CA of {}'s \
                     certificate (the IAM console shows it when you add the provider by hand; `aws-role-deploy \
                     trust-policy` notes how to compute it). CloudFormation cannot create or update the provider \
                     without one.",
                    "api.bitbucket.org"
                )
            }
        },
        "Rules": {
            "ThumbprintForANewProvider": {
                "RuleCondition": { "Fn::Equals": [{ "Ref": "CreateOidcProvider" }, "true"] },
                "Assertions": [{
                    "Assert": { "Fn::Not": [{ "Fn::Equals": [{ "Ref": THUMBPRINT_PARAMETER }, ""] }] },
                    "AssertDescription": "ProviderThumbprint is required when CreateOidcProvider is true"
                }]
            }
        },
        "Conditions": {
            "CreateProvider": { "Fn::Equals": [{ "Ref": "CreateOidcProvider" }, "true"] }
        },
        "Resources": {
            "BitbucketOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateProvider",
                "Properties": {
                    "Url": scope.issuer(),
                    "ClientIdList": [scope.audience],
                    "ThumbprintList": [{ "Ref": THUMBPRINT_PARAMETER }]
                }
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
        let federated = &trust["Statement"][0]["Principal"]["Federated"]["Fn::If"];
        assert_eq!(federated[0], "CreateProvider");
        assert_eq!(federated[1], json!({ "Ref": "BitbucketOidcProvider" }));
        assert_eq!(
            federated[2]["Fn::Sub"],
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
        );
        assert!(resources["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].is_array());
    }

    #[test]
    fn the_provider_has_a_thumbprint_and_the_role_waits_for_it() {
        let stack = oidc_stack(&setup());
        let provider = &stack["Resources"]["BitbucketOidcProvider"];
        assert_eq!(
            provider["Properties"]["ThumbprintList"],
            json!([{ "Ref": THUMBPRINT_PARAMETER }])
        );
        let parameter = &stack["Parameters"][THUMBPRINT_PARAMETER];
        assert_eq!(parameter["AllowedPattern"], "^([0-9a-fA-F]{40})?$");
        // Required exactly when the provider is created.
        let rule = &stack["Rules"]["ThumbprintForANewProvider"];
        assert_eq!(rule["RuleCondition"]["Fn::Equals"][0]["Ref"], "CreateOidcProvider");
        // No DependsOn on a conditional resource (CloudFormation refuses the template when the
        // condition is false); the dependency is the Ref inside Fn::If.
        let role = &stack["Resources"]["DeployRole"];
        assert!(role.get("DependsOn").is_none());
        let text = stack.to_string();
        assert_eq!(text.matches("\"Ref\":\"BitbucketOidcProvider\"").count(), 1, "{text}");
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
