//! `FUNCTION_CONFIGURATION` as users have it, turned into an UpdateFunctionConfiguration request:
//! the request's own fields, or what AWS prints about a function. `get-function-configuration`
//! and `create-function` print a FunctionConfiguration; `get-function` prints it under
//! `Configuration`, beside `Code`, `Tags`, `TagsError` and `Concurrency`. Fields Lambda only
//! reports are left out (and said), output-only shapes become the request's (`Layers` objects →
//! their ARNs, `ImageConfigResponse` → `ImageConfig`), and anything else is refused by name.
//!
//! The shapes are the Lambda API model's (botocore 1.44.8), as the API reference gives them:
//! <https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html> (request),
//! <https://docs.aws.amazon.com/lambda/latest/api/API_GetFunctionConfiguration.html> and
//! <https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html> (what is printed),
//! <https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html> (the wrapper).

use serde_json::{Map, Value};

use crate::domain::arn::is_account_id;

mod types;
pub use types::type_problems;

/// The fields UpdateFunctionConfiguration takes, besides `FunctionName` (the function named by
/// `FUNCTION_NAME`) and `RevisionId` (the one the pipe observed).
pub const SETTABLE: &[&str] = &[
    "AcceleratorConfig",
    "CapacityProviderConfig",
    "DeadLetterConfig",
    "Description",
    "DurableConfig",
    "Environment",
    "EphemeralStorage",
    "FileSystemConfigs",
    "Handler",
    "ImageConfig",
    "KMSKeyArn",
    "Layers",
    "LoggingConfig",
    "MemorySize",
    "Role",
    "Runtime",
    "RuntimeConfig",
    "SnapStart",
    "Timeout",
    "TracingConfig",
    "VpcConfig",
];

/// What a FunctionConfiguration has and UpdateFunctionConfiguration does not take: left out.
/// (`FunctionName` is compared with `FUNCTION_NAME`; `ImageConfigResponse` is mapped.)
pub const READ_ONLY: &[&str] = &[
    "Architectures",
    "CodeSha256",
    "CodeSize",
    "ConfigSha256",
    "FunctionArn",
    "LastModified",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "MasterArn",
    "PackageType",
    "RevisionId",
    "RuntimeVersionConfig",
    "SigningJobArn",
    "SigningProfileVersionArn",
    "State",
    "StateReason",
    "StateReasonCode",
    "TenancyConfig",
    "Version",
];

/// What `get-function` prints beside `Configuration`: not configuration, not applied.
const GET_FUNCTION_OTHERS: &[&str] = &["Code", "Concurrency", "Tags", "TagsError"];

/// Structures whose members are known: (field, members the request takes, members only printed).
/// A member that is neither is refused like an unknown field.
const STRUCTURES: &[(&str, &[&str], &[&str])] = &[
    ("DeadLetterConfig", &["TargetArn"], &[]),
    ("Environment", &["Variables"], &["Error"]),
    ("EphemeralStorage", &["Size"], &[]),
    ("ImageConfig", &["Command", "EntryPoint", "WorkingDirectory"], &[]),
    (
        "LoggingConfig",
        &["ApplicationLogLevel", "LogFormat", "LogGroup", "SystemLogLevel"],
        &[],
    ),
    ("SnapStart", &["ApplyOn"], &["OptimizationStatus"]),
    ("TracingConfig", &["Mode"], &[]),
    (
        "VpcConfig",
        &["Ipv6AllowedForDualStack", "SecurityGroupIds", "SubnetIds"],
        &["VpcId"],
    ),
];

/// A layer as FunctionConfiguration prints it (`Layer`); the request takes its `Arn`.
const LAYER_MEMBERS: &[&str] = &["Arn", "CodeSize", "SigningJobArn", "SigningProfileVersionArn"];
const FILE_SYSTEM_MEMBERS: &[&str] = &["Arn", "LocalMountPath", "S3FilesConfig"];
const IMAGE_CONFIG_RESPONSE_MEMBERS: &[&str] = &["Error", "ImageConfig"];

/// An UpdateFunctionConfiguration body made from a document, and what was not sent.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigurationRequest {
    /// The fields sent (an object; empty when the document set nothing Lambda takes).
    pub body: Map<String, Value>,
    /// Fields left out because Lambda only reports them, or mapped to the request's shape, as
    /// paths (`FunctionArn`, `VpcConfig.VpcId`, `Layers[].CodeSize`...), sorted.
    pub left_out: Vec<String>,
    /// What `get-function` printed beside `Configuration` (`Code`, `Tags`...): the document was
    /// its output, and these are not applied.
    pub get_function_others: Option<Vec<String>>,
}

/// The document a file holds, as UpdateFunctionConfiguration takes it. `function` is
/// `FUNCTION_NAME` (None when it is missing: `FunctionName` is then not compared). Each error
/// names the field.
pub fn request(document: Value, function: Option<&str>) -> Result<ConfigurationRequest, Vec<String>> {
    let Value::Object(mut outer) = document else {
        return Err(vec![
            "must be a JSON object: UpdateFunctionConfiguration fields, or what `aws lambda \
             get-function-configuration` or `get-function` prints"
                .to_owned(),
        ]);
    };
    let mut request = ConfigurationRequest::default();
    let mut fields = match outer.remove("Configuration") {
        Some(Value::Object(inner)) => {
            let strangers: Vec<String> = outer
                .keys()
                .filter(|key| !GET_FUNCTION_OTHERS.contains(&key.as_str()))
                .map(|key| format!("{key:?}"))
                .collect();
            if !strangers.is_empty() {
                return Err(vec![format!(
                    "sets {} beside \"Configuration\": `get-function` output has only Configuration, {}; \
                     nothing was changed",
                    strangers.join(", "),
                    GET_FUNCTION_OTHERS.join(", ")
                )]);
            }
            request.get_function_others = Some(outer.keys().cloned().collect());
            inner
        }
        Some(_) => {
            return Err(vec![
                "\"Configuration\" must be an object (get-function's FunctionConfiguration)".to_owned(),
            ]);
        }
        None => outer,
    };

    let mut errors = Vec::new();
    if let Some(named) = fields.remove("FunctionName") {
        match (named.as_str(), function) {
            (None, _) => errors.push("FunctionName must be a string".to_owned()),
            (Some(named), Some(function)) if !same_function(named, function) => errors.push(format!(
                "is the configuration of function {named:?} (FunctionName), not of FUNCTION_NAME {function:?}: \
                 set FUNCTION_NAME to that function, or remove FunctionName from the file"
            )),
            _ => {}
        }
    }
    for field in READ_ONLY {
        if fields.remove(*field).is_some() {
            request.left_out.push((*field).to_owned());
        }
    }
    map_image_config_response(&mut fields, &mut request.left_out, &mut errors);
    map_layers(&mut fields, &mut request.left_out, &mut errors);
    check_structures(&mut fields, &mut request.left_out, &mut errors);

    let unknown: Vec<String> = fields
        .keys()
        .filter(|key| !SETTABLE.contains(&key.as_str()))
        .map(|key| format!("{key:?}"))
        .collect();
    if !unknown.is_empty() {
        errors.push(format!(
            "sets {}, which is neither a field UpdateFunctionConfiguration takes nor one Lambda reports \
             (it takes {})",
            unknown.join(", "),
            SETTABLE.join(", ")
        ));
    }
    if let Some(problem) = dual_stack_without_vpc(&fields) {
        errors.push(problem);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    request.left_out.sort();
    request.left_out.dedup();
    request.body = fields;
    Ok(request)
}

/// The document's configuration: get-function's `Configuration` when it is that output, else
/// the document itself (for readers of one field, such as the trust-policy generator's `Role`).
pub fn configuration_of(document: &Value) -> &Value {
    match document.get("Configuration") {
        Some(inner) if inner.is_object() => inner,
        _ => document,
    }
}

/// `ImageConfigResponse` (what is printed for an image function) → the request's `ImageConfig`;
/// its `Error` (why the image config could not be applied) is only reported.
fn map_image_config_response(fields: &mut Map<String, Value>, left_out: &mut Vec<String>, errors: &mut Vec<String>) {
    let Some(response) = fields.remove("ImageConfigResponse") else {
        return;
    };
    let Value::Object(mut response) = response else {
        errors.push("ImageConfigResponse must be an object".to_owned());
        return;
    };
    unknown_members("ImageConfigResponse", &response, IMAGE_CONFIG_RESPONSE_MEMBERS, errors);
    if response.remove("Error").is_some() {
        left_out.push("ImageConfigResponse.Error".to_owned());
    }
    match (response.remove("ImageConfig"), fields.get("ImageConfig")) {
        (Some(config), Some(given)) if &config != given => errors.push(
            "sets ImageConfig and ImageConfigResponse.ImageConfig differently: keep one (ImageConfig is what \
             UpdateFunctionConfiguration takes)"
                .to_owned(),
        ),
        (Some(config), None) => {
            fields.insert("ImageConfig".to_owned(), config);
            left_out.push("ImageConfigResponse (its ImageConfig sent as ImageConfig)".to_owned());
        }
        _ => left_out.push("ImageConfigResponse".to_owned()),
    }
}

/// `Layers` as printed (objects with `Arn`, `CodeSize`...) → their ARNs, as the request takes them.
fn map_layers(fields: &mut Map<String, Value>, left_out: &mut Vec<String>, errors: &mut Vec<String>) {
    let Some(Value::Array(layers)) = fields.get_mut("Layers") else {
        return;
    };
    for (index, layer) in layers.iter_mut().enumerate() {
        let Value::Object(members) = layer else { continue };
        unknown_members(&format!("Layers[{index}]"), members, LAYER_MEMBERS, errors);
        match members.get("Arn") {
            Some(Value::String(arn)) => {
                left_out.extend(
                    members
                        .keys()
                        .filter(|key| *key != "Arn")
                        .map(|key| format!("Layers[].{key}")),
                );
                *layer = Value::String(arn.clone());
            }
            _ => errors.push(format!("Layers[{index}] has no Arn (a layer version ARN)")),
        }
    }
}

/// Members of the known structures: those only printed are left out, unknown ones refused.
fn check_structures(fields: &mut Map<String, Value>, left_out: &mut Vec<String>, errors: &mut Vec<String>) {
    for (field, settable, printed) in STRUCTURES {
        let Some(Value::Object(members)) = fields.get_mut(*field) else {
            continue;
        };
        for member in *printed {
            if members.remove(*member).is_some() {
                left_out.push(format!("{field}.{member}"));
            }
        }
        unknown_members(field, members, settable, errors);
    }
    if let Some(Value::Array(systems)) = fields.get("FileSystemConfigs") {
        for (index, system) in systems.iter().enumerate() {
            if let Value::Object(members) = system {
                unknown_members(
                    &format!("FileSystemConfigs[{index}]"),
                    members,
                    FILE_SYSTEM_MEMBERS,
                    errors,
                );
            }
        }
    }
}

fn unknown_members(field: &str, members: &Map<String, Value>, known: &[&str], errors: &mut Vec<String>) {
    let unknown: Vec<String> = members
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .map(|key| format!("{field}.{key:?}"))
        .collect();
    if !unknown.is_empty() {
        errors.push(format!(
            "sets {}, which Lambda neither takes nor reports ({field} has {})",
            unknown.join(", "),
            known.join(", ")
        ));
    }
}

/// Lambda refuses `Ipv6AllowedForDualStack: true` for a function without subnets or security
/// groups ("Ipv6AllowedForDualStack cannot be true without subnet or security groups",
/// aws-cloudformation/cloudformation-coverage-roadmap#2061): said before any change.
fn dual_stack_without_vpc(fields: &Map<String, Value>) -> Option<String> {
    let vpc = fields.get("VpcConfig")?;
    let empty = |member: &str| vpc.get(member).and_then(Value::as_array).is_none_or(Vec::is_empty);
    (vpc.get("Ipv6AllowedForDualStack") == Some(&Value::Bool(true))
        && (empty("SubnetIds") || empty("SecurityGroupIds")))
    .then(|| {
        "VpcConfig.Ipv6AllowedForDualStack is true without SubnetIds and SecurityGroupIds, which Lambda refuses: \
             set both, or Ipv6AllowedForDualStack to false"
            .to_owned()
    })
}

/// The parts of a function name, ARN or partial ARN: (region, account, name), each known or not.
fn function_parts(value: &str) -> Option<(Option<&str>, Option<&str>, &str)> {
    match value.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _partition, "lambda", region, account, "function", name] if is_account_id(account) => {
            Some((Some(*region), Some(*account), *name))
        }
        [account, "function", name] if is_account_id(account) => Some((None, Some(*account), *name)),
        [name] => Some((None, None, *name)),
        _ => None,
    }
}

/// Whether two references (name, ARN or partial ARN) can be the same function: the same name,
/// and the same account and region where both say one.
pub fn same_function(one: &str, other: &str) -> bool {
    let (Some((region_a, account_a, name_a)), Some((region_b, account_b, name_b))) =
        (function_parts(one), function_parts(other))
    else {
        return false;
    };
    let agree = |a: Option<&str>, b: Option<&str>| a.zip(b).is_none_or(|(a, b)| a == b);
    name_a == name_b && agree(region_a, region_b) && agree(account_a, account_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Value {
        Value::Object(request(value, Some("api")).unwrap().body)
    }

    /// `aws lambda get-function-configuration --function-name my-function` as the API reference
    /// and the CLI print it (a zip function with a layer, in a VPC, with SnapStart).
    fn printed() -> Value {
        json!({
            "FunctionName": "api",
            "FunctionArn": "arn:aws:lambda:us-west-2:123456789012:function:api",
            "Runtime": "java21", "Role": "arn:aws:iam::123456789012:role/api-role",
            "Handler": "example.Handler", "CodeSize": 2280, "Description": "", "Timeout": 3,
            "MemorySize": 256, "LastModified": "2023-03-14T17:26:58.000+0000",
            "CodeSha256": "YFgDgEKG3ugvF1+pX64gV6tu9qNuIYNUdgJm8nCxsm4=", "Version": "$LATEST",
            "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"], "VpcId": "vpc-1",
                          "Ipv6AllowedForDualStack": false},
            "Environment": {"Variables": {"STAGE": "prod"}},
            "TracingConfig": {"Mode": "Active"}, "RevisionId": "28f0fb31-5c5c-43d3-8955-03e76c5c1075",
            "Layers": [{"Arn": "arn:aws:lambda:us-west-2:123456789012:layer:deps:3", "CodeSize": 5000}],
            "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
            "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"},
            "RuntimeVersionConfig": {"RuntimeVersionArn": "arn:aws:lambda:us-west-2::runtime:abc"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/api"}
        })
    }

    #[test]
    fn get_function_configuration_output_becomes_the_request() {
        let request = request(printed(), Some("api")).unwrap();
        assert_eq!(
            Value::Object(request.body),
            json!({
                "Runtime": "java21", "Role": "arn:aws:iam::123456789012:role/api-role",
                "Handler": "example.Handler", "Description": "", "Timeout": 3, "MemorySize": 256,
                "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"], "Ipv6AllowedForDualStack": false},
                "Environment": {"Variables": {"STAGE": "prod"}}, "TracingConfig": {"Mode": "Active"},
                "Layers": ["arn:aws:lambda:us-west-2:123456789012:layer:deps:3"],
                "EphemeralStorage": {"Size": 512}, "SnapStart": {"ApplyOn": "PublishedVersions"},
                "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/api"}
            })
        );
        assert_eq!(
            request.left_out,
            [
                "Architectures",
                "CodeSha256",
                "CodeSize",
                "FunctionArn",
                "LastModified",
                "LastUpdateStatus",
                "Layers[].CodeSize",
                "PackageType",
                "RevisionId",
                "RuntimeVersionConfig",
                "SnapStart.OptimizationStatus",
                "State",
                "Version",
                "VpcConfig.VpcId",
            ]
        );
        assert_eq!(request.get_function_others, None);
    }

    #[test]
    fn get_function_output_is_unwrapped_and_its_other_parts_are_named() {
        let document = json!({
            "Configuration": printed(),
            "Code": {"RepositoryType": "S3", "Location": "https://awslambda-us-west-2-tasks.s3.amazonaws.com/x"},
            "Tags": {"team": "a"}, "Concurrency": {"ReservedConcurrentExecutions": 5}
        });
        let request = request(document, Some("api")).unwrap();
        assert_eq!(request.body.get("MemorySize"), Some(&json!(256)));
        assert!(!request.body.contains_key("Code") && !request.body.contains_key("Tags"));
        assert_eq!(request.get_function_others.unwrap(), ["Code", "Concurrency", "Tags"]);
        let stranger = json!({"Configuration": {"Timeout": 3}, "Code": {}, "Policy": "{}"});
        let errors = super::request(stranger, Some("api")).unwrap_err();
        assert!(errors[0].contains("\"Policy\" beside \"Configuration\""), "{errors:?}");
        assert!(super::request(json!({"Configuration": 3}), Some("api")).is_err());
    }

    #[test]
    fn function_name_must_be_the_deployed_function() {
        for same in [
            "api",
            "123456789012:function:api",
            "arn:aws:lambda:us-west-2:123456789012:function:api",
        ] {
            for deployed in ["api", "arn:aws:lambda:us-west-2:123456789012:function:api"] {
                let document = json!({"FunctionName": same, "Timeout": 3});
                assert!(request(document, Some(deployed)).is_ok(), "{same} / {deployed}");
            }
        }
        for other in [
            "web",
            "api:prod",
            "210987654321:function:api",
            "arn:aws:lambda:eu-west-1:123456789012:function:api",
        ] {
            let document = json!({"FunctionName": other, "Timeout": 3});
            let errors = request(document, Some("arn:aws:lambda:us-west-2:123456789012:function:api")).unwrap_err();
            assert!(
                errors[0].contains("FUNCTION_NAME") && errors[0].contains(other),
                "{errors:?}"
            );
        }
        // FUNCTION_NAME missing (said elsewhere): nothing to compare with.
        assert!(request(json!({"FunctionName": "web"}), None).is_ok());
        assert!(request(json!({"FunctionName": 3}), Some("api")).is_err());
    }

    #[test]
    fn unknown_fields_are_refused_by_name_with_every_problem_at_once() {
        let document = json!({
            "MemorySize": 512, "memorySize": 1, "Code": {"ZipFile": "x"},
            "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "Vpc": "x"},
            "Layers": [{"Arn": "arn:l:1", "Size": 3}, {"CodeSize": 1}]
        });
        let errors = request(document, Some("api")).unwrap_err();
        let all = errors.join("\n");
        for named in [
            "\"memorySize\"",
            "\"Code\"",
            "VpcConfig.\"Vpc\"",
            "Layers[0].\"Size\"",
            "Layers[1] has no Arn",
        ] {
            assert!(all.contains(named), "{named}: {all}");
        }
        assert!(!all.contains("\"MemorySize\""), "{all}");
    }

    #[test]
    fn image_config_response_becomes_image_config() {
        let document = json!({
            "PackageType": "Image",
            "ImageConfigResponse": {"ImageConfig": {"Command": ["app.handler"]}, "Error": {"ErrorCode": "x", "Message": "y"}}
        });
        let request = request(document, Some("api")).unwrap();
        assert_eq!(
            Value::Object(request.body),
            json!({"ImageConfig": {"Command": ["app.handler"]}})
        );
        assert_eq!(
            request.left_out,
            [
                "ImageConfigResponse (its ImageConfig sent as ImageConfig)",
                "ImageConfigResponse.Error",
                "PackageType"
            ]
        );
        let same =
            json!({"ImageConfig": {"Command": ["a"]}, "ImageConfigResponse": {"ImageConfig": {"Command": ["a"]}}});
        assert_eq!(body(same), json!({"ImageConfig": {"Command": ["a"]}}));
        let differ =
            json!({"ImageConfig": {"Command": ["a"]}, "ImageConfigResponse": {"ImageConfig": {"Command": ["b"]}}});
        assert!(super::request(differ, Some("api")).is_err());
    }

    #[test]
    fn what_is_printed_and_only_that_is_left_out() {
        let document = json!({
            "Environment": {"Variables": {"A": "1"}, "Error": {"ErrorCode": "KMS", "Message": "m"}},
            "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": false},
            "TracingConfig": {"Mode": "PassThrough"}, "EphemeralStorage": {"Size": 10240},
            "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:1:dlq"}
        });
        assert_eq!(
            body(document),
            json!({
                "Environment": {"Variables": {"A": "1"}},
                "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "Ipv6AllowedForDualStack": false},
                "TracingConfig": {"Mode": "PassThrough"}, "EphemeralStorage": {"Size": 10240},
                "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:1:dlq"}
            })
        );
        // Fields Lambda does not know today are refused, not sent: nothing silently ignored.
        let nothing = request(json!({"FunctionArn": "arn", "State": "Active"}), Some("api")).unwrap();
        assert!(nothing.body.is_empty());
        assert_eq!(nothing.left_out, ["FunctionArn", "State"]);
    }

    #[test]
    fn dual_stack_needs_a_vpc_as_lambda_says() {
        let refused = json!({"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "Ipv6AllowedForDualStack": true}});
        let errors = request(refused, Some("api")).unwrap_err();
        assert!(errors[0].contains("Ipv6AllowedForDualStack"), "{errors:?}");
        let fine =
            json!({"VpcConfig": {"SubnetIds": ["s"], "SecurityGroupIds": ["g"], "Ipv6AllowedForDualStack": true}});
        assert!(request(fine, Some("api")).is_ok());
    }

    #[test]
    fn configuration_of_unwraps_get_function_output() {
        let wrapped = json!({"Configuration": {"Role": "r"}, "Code": {}});
        assert_eq!(configuration_of(&wrapped), &json!({"Role": "r"}));
        let plain = json!({"Role": "r"});
        assert_eq!(configuration_of(&plain), &plain);
    }

    #[test]
    fn the_lists_do_not_overlap() {
        for key in READ_ONLY.iter().chain(GET_FUNCTION_OTHERS) {
            assert!(!SETTABLE.contains(key), "{key}");
        }
    }
}
