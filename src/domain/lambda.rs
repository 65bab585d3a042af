//! The settings of `ACTION=lambda-deploy`, Lambda's limits on packages, and which fields of a
//! function configuration can be set.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::traffic_shift::TrafficShift;

/// Lambda's documented limit for a package uploaded in the request itself ("50 MB" zipped).
pub const DIRECT_UPLOAD_MAX: u64 = 50 * 1024 * 1024;
/// What Lambda really checks for a direct upload: the request, in which the zip is base64
/// (4/3 of it) inside JSON. It answers 413 "Request must be smaller than 69905067 bytes".
pub const DIRECT_UPLOAD_REQUEST_MAX: u64 = 69_905_067;
/// The JSON around the base64 zip in the pipe's UpdateFunctionCode body, at most:
/// `{"RevisionId":"…","ZipFile":""}` with a RevisionId of up to 128 characters.
const DIRECT_UPLOAD_JSON_MAX: u64 = 160;
/// Lambda's limit for the unzipped code: a larger directory cannot deploy, so it is not zipped.
pub const UNZIPPED_MAX: u64 = 250 * 1024 * 1024;
/// Lambda's limit for a function's environment variables: the map as JSON, 4 KB.
pub const ENVIRONMENT_MAX: usize = 4 * 1024;

/// The size Lambda measures the environment variables by (their JSON map), when it is over the
/// limit. Lambda's own refusal quotes every value, so the pipe checks before sending.
pub fn environment_too_large(configuration: &Value) -> Option<usize> {
    let variables = configuration.get("Environment")?.get("Variables")?;
    let size = serde_json::to_string(variables).map_or(0, |text| text.len());
    (size > ENVIRONMENT_MAX).then_some(size)
}

/// The size of the UpdateFunctionCode request that uploads a zip of `zip_len` bytes (at most).
pub fn direct_upload_request_size(zip_len: u64) -> u64 {
    zip_len.div_ceil(3) * 4 + DIRECT_UPLOAD_JSON_MAX
}

/// Why a zip of `zip_len` bytes cannot be uploaded in the request, or None when it can.
pub fn direct_upload_problem(zip_len: u64) -> Option<String> {
    let request = direct_upload_request_size(zip_len);
    (request >= DIRECT_UPLOAD_REQUEST_MAX).then(|| {
        format!(
            "the package is {zip_len} bytes; base64-encoded in the request that is {request} bytes, and Lambda \
             takes requests smaller than {DIRECT_UPLOAD_REQUEST_MAX} bytes (its {} MB direct-upload limit applies to \
             the encoded request, not to the zip)",
            DIRECT_UPLOAD_MAX / 1024 / 1024
        )
    })
}

/// The fields UpdateFunctionConfiguration takes (the Lambda API model, as of botocore 1.44.8),
/// besides `FunctionName` and `RevisionId`, which the pipe sets itself.
pub const CONFIGURATION_KEYS: &[&str] = &[
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

/// What GetFunctionConfiguration prints and UpdateFunctionConfiguration does not take (same
/// model): a file copied from `get-function-configuration` carries them, and Lambda would not
/// apply them. Nested ones as `Parent.Field`.
/// Fields of UpdateFunctionConfiguration whose value has the wrong JSON type, as
/// "MemorySize must be a whole number, not a string": caught before the call, since Lambda's
/// own answer to such a body is not an error message a user can act on.
pub fn configuration_type_problems(document: &Map<String, Value>) -> Vec<String> {
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
    problems
}

pub const READ_ONLY_CONFIGURATION_KEYS: &[&str] = &[
    "Architectures",
    "CodeSha256",
    "CodeSize",
    "ConfigSha256",
    "Environment.Error",
    "FunctionArn",
    "ImageConfigResponse",
    "LastModified",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "MasterArn",
    "PackageType",
    "RuntimeVersionConfig",
    "SigningJobArn",
    "SigningProfileVersionArn",
    "SnapStart.OptimizationStatus",
    "State",
    "StateReason",
    "StateReasonCode",
    "TenancyConfig",
    "Version",
    "VpcConfig.VpcId",
];

/// The keys of a configuration document that Lambda only reports, and those it is not known
/// to take at all (sent anyway: a newer Lambda field passes), each sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigurationKeys {
    pub read_only: Vec<String>,
    pub unknown: Vec<String>,
}

/// Sort the keys of an UpdateFunctionConfiguration document. `FunctionName` and `RevisionId`
/// are neither: the pipe sets them, and says so elsewhere.
pub fn classify_configuration_keys(document: &Map<String, Value>) -> ConfigurationKeys {
    let mut keys = ConfigurationKeys::default();
    for path in READ_ONLY_CONFIGURATION_KEYS {
        let present = match path.split_once('.') {
            Some((parent, field)) => document
                .get(parent)
                .and_then(Value::as_object)
                .is_some_and(|fields| fields.contains_key(field)),
            None => document.contains_key(*path),
        };
        if present {
            keys.read_only.push((*path).to_owned());
        }
    }
    for key in document.keys() {
        let known = CONFIGURATION_KEYS.contains(&key.as_str())
            || READ_ONLY_CONFIGURATION_KEYS.contains(&key.as_str())
            || ["FunctionName", "RevisionId"].contains(&key.as_str());
        if !known {
            keys.unknown.push(key.clone());
        }
    }
    keys.read_only.sort();
    keys.unknown.sort();
    keys
}

#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub function: String,
    pub code: Option<CodeSource>,
    /// UpdateFunctionConfiguration fields, filled.
    pub configuration: Option<(PathBuf, Value)>,
    pub publish: bool,
    pub version_description: String,
    pub alias: Option<String>,
    /// `ALIAS_CLEAR_WEIGHTS`: an alias that splits traffic between versions has its weights
    /// cleared when it moves, instead of the deployment being refused.
    pub clear_alias_weights: bool,
    /// `TRAFFIC_SHIFT`: how the alias moves to the new version.
    pub traffic_shift: TrafficShift,
    /// The shift's holds are divided by this: 1, except against the tests' emulator
    /// (`AWS_ROLE_DEPLOY_TEST_TIME_SCALE`, accepted only with a loopback Lambda endpoint).
    pub shift_time_scale: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// A `.zip` or a directory, uploaded in the request (or first to S3).
    Zip {
        path: PathBuf,
        upload_to: Option<S3Location>,
    },
    /// An existing S3 object.
    S3(S3Location),
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    /// `S3_BUCKET_OWNER`: the account the bucket must belong to (default: the role's).
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_fields_of_the_wrong_type_are_named() {
        let document = serde_json::json!({
            "MemorySize": "big", "Timeout": 30, "Layers": ["arn:x", 3],
            "Environment": {"Variables": {"A": 1}}, "Description": "ok", "NewField": 1
        });
        let problems = configuration_type_problems(document.as_object().unwrap());
        assert_eq!(
            problems,
            [
                "Environment.Variables must be an object of string values, not an object",
                "Layers must be a list of layer version ARNs, not a list",
                "MemorySize must be a whole number, not a string",
            ]
        );
    }
    use serde_json::json;

    #[test]
    fn the_direct_upload_limit_is_on_the_encoded_request() {
        // Lambda's own number: 50 MiB of zip, base64-encoded.
        assert_eq!(DIRECT_UPLOAD_REQUEST_MAX, (DIRECT_UPLOAD_MAX * 4).div_ceil(3));
        assert!(direct_upload_problem(1024).is_none());
        // Exactly "50 MB" of zip does not fit once encoded.
        let problem = direct_upload_problem(DIRECT_UPLOAD_MAX).unwrap();
        assert!(problem.contains("base64") && problem.contains("69905067"), "{problem}");
        let largest = (0..DIRECT_UPLOAD_MAX)
            .rev()
            .find(|len| direct_upload_problem(*len).is_none())
            .unwrap();
        assert!(direct_upload_request_size(largest) < DIRECT_UPLOAD_REQUEST_MAX);
        assert!(DIRECT_UPLOAD_MAX - largest < 200, "{largest}");
    }

    #[test]
    fn configuration_keys_are_sorted_into_read_only_and_unknown() {
        let document = json!({
            "MemorySize": 512, "FunctionArn": "arn", "CodeSha256": "x", "State": "Active",
            "VpcConfig": {"SubnetIds": [], "VpcId": "vpc-1"}, "SnapStart": {"ApplyOn": "None"},
            "memorySize": 1, "SomethingNew": {}, "FunctionName": "api"
        });
        let keys = classify_configuration_keys(document.as_object().unwrap());
        assert_eq!(
            keys.read_only,
            ["CodeSha256", "FunctionArn", "State", "VpcConfig.VpcId"]
        );
        assert_eq!(keys.unknown, ["SomethingNew", "memorySize"]);
        let clean = json!({"Timeout": 3, "Environment": {"Variables": {}}});
        assert_eq!(
            classify_configuration_keys(clean.as_object().unwrap()),
            ConfigurationKeys::default()
        );
    }

    #[test]
    fn the_lists_do_not_overlap() {
        for key in READ_ONLY_CONFIGURATION_KEYS {
            assert!(!CONFIGURATION_KEYS.contains(key), "{key}");
        }
    }
}
