//! The JSON types of UpdateFunctionConfiguration's fields and of their structures' members (the
//! Lambda model's), checked before the call: Lambda cannot read a body with a string where a
//! list goes (400 SerializationException), and its answer does not say which field.

use serde_json::{Map, Value};

/// Fields of UpdateFunctionConfiguration whose value has the wrong JSON type, as
/// "MemorySize must be a whole number, not a string": caught before the call, since Lambda's
/// own answer to such a body is not an error message a user can act on.
pub fn type_problems(document: &Map<String, Value>) -> Vec<String> {
    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        }
    }
    let mut problems = Vec::new();
    let mut expect = |field: &str, value: &Value, ok: bool, wanted: &str| {
        if !ok {
            problems.push(format!("{field} must be {wanted}, not {}", kind(value)));
        }
    };
    for (key, value) in document {
        match key.as_str() {
            "Role" | "Handler" | "Description" | "Runtime" | "KMSKeyArn" => {
                expect(key, value, value.is_string(), "a string")
            }
            "Timeout" | "MemorySize" => expect(key, value, value.is_u64(), "a whole number"),
            "Layers" => expect(
                key,
                value,
                value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
                "a list of layer version ARNs",
            ),
            "FileSystemConfigs" => expect(key, value, value.is_array(), "a list"),
            "Environment" => match value.as_object().map(|environment| environment.get("Variables")) {
                None => expect(key, value, false, "an object"),
                Some(None) => {}
                Some(Some(variables)) => expect(
                    "Environment.Variables",
                    variables,
                    variables
                        .as_object()
                        .is_some_and(|map| map.values().all(Value::is_string)),
                    "an object of string values",
                ),
            },
            "EphemeralStorage" => expect(
                key,
                value,
                value.get("Size").is_some_and(Value::is_u64),
                "an object with a whole-number Size",
            ),
            "VpcConfig" | "DeadLetterConfig" | "TracingConfig" | "ImageConfig" | "SnapStart" | "LoggingConfig" => {
                expect(key, value, value.is_object(), "an object")
            }
            _ => {}
        }
    }
    // Members of the structures, as the model types them: Lambda cannot read a body with a
    // string where a list goes (400 SerializationException), so they are checked here too.
    for (field, member, wanted) in MEMBER_TYPES {
        let Some(value) = document.get(*field).and_then(|structure| structure.get(*member)) else {
            continue;
        };
        let ok = match wanted {
            Kind::Text => value.is_string(),
            Kind::Texts => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Flag => value.is_boolean(),
        };
        expect(&format!("{field}.{member}"), value, ok, wanted.said());
    }
    for (index, system) in document
        .get("FileSystemConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for member in ["Arn", "LocalMountPath"] {
            if let Some(value) = system.get(member) {
                expect(
                    &format!("FileSystemConfigs[{index}].{member}"),
                    value,
                    value.is_string(),
                    "a string",
                );
            }
        }
    }
    problems
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Texts,
    Flag,
}

impl Kind {
    fn said(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Texts => "a list of strings",
            Kind::Flag => "true or false",
        }
    }
}

/// The members of UpdateFunctionConfiguration's structures and their types (the model's).
const MEMBER_TYPES: &[(&str, &str, Kind)] = &[
    ("DeadLetterConfig", "TargetArn", Kind::Text),
    ("ImageConfig", "Command", Kind::Texts),
    ("ImageConfig", "EntryPoint", Kind::Texts),
    ("ImageConfig", "WorkingDirectory", Kind::Text),
    ("LoggingConfig", "ApplicationLogLevel", Kind::Text),
    ("LoggingConfig", "LogFormat", Kind::Text),
    ("LoggingConfig", "LogGroup", Kind::Text),
    ("LoggingConfig", "SystemLogLevel", Kind::Text),
    ("SnapStart", "ApplyOn", Kind::Text),
    ("TracingConfig", "Mode", Kind::Text),
    ("VpcConfig", "Ipv6AllowedForDualStack", Kind::Flag),
    ("VpcConfig", "SecurityGroupIds", Kind::Texts),
    ("VpcConfig", "SubnetIds", Kind::Texts),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configuration_fields_of_the_wrong_type_are_named() {
        let document = json!({
            "MemorySize": "big", "Timeout": 30, "Layers": ["arn:x", 3],
            "Environment": {"Variables": {"A": 1}}, "Description": "ok", "NewField": 1
        });
        let problems = type_problems(document.as_object().unwrap());
        assert_eq!(
            problems,
            [
                "Environment.Variables must be an object of string values, not an object",
                "Layers must be a list of layer version ARNs, not a list",
                "MemorySize must be a whole number, not a string",
            ]
        );
    }

    #[test]
    fn members_of_the_wrong_type_are_named() {
        let document = json!({
            "VpcConfig": {"SubnetIds": "subnet-1", "SecurityGroupIds": ["sg-1"], "Ipv6AllowedForDualStack": "no"},
            "TracingConfig": {"Mode": 1}, "ImageConfig": {"Command": ["a", 2]},
            "FileSystemConfigs": [{"Arn": "arn:efs", "LocalMountPath": 5}]
        });
        assert_eq!(
            type_problems(document.as_object().unwrap()),
            [
                "ImageConfig.Command must be a list of strings, not a list",
                "TracingConfig.Mode must be a string, not a number",
                "VpcConfig.Ipv6AllowedForDualStack must be true or false, not a string",
                "VpcConfig.SubnetIds must be a list of strings, not a string",
                "FileSystemConfigs[0].LocalMountPath must be a string, not a number",
            ]
        );
    }
}
