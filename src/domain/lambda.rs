//! The settings of `ACTION=lambda-deploy` and Lambda's limits on packages and environments
//! (which fields of a configuration file are sent: `lambda_configuration`).

use std::path::PathBuf;

use serde_json::Value;

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

#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub function: String,
    pub code: Option<CodeSource>,
    /// UpdateFunctionConfiguration fields, filled.
    pub configuration: Option<(PathBuf, Value)>,
    /// What was left out of `FUNCTION_CONFIGURATION` (fields Lambda only reports, get-function's
    /// `Code`...), said once when the deploy starts.
    pub configuration_notes: Vec<String>,
    pub publish: bool,
    pub version_description: String,
    pub alias: Option<String>,
    /// `ALIAS_CLEAR_WEIGHTS`: an alias that splits traffic between versions has its weights
    /// cleared when it moves, instead of the deployment being refused.
    pub clear_alias_weights: bool,
    /// `TRAFFIC_SHIFT`: how the alias moves to the new version.
    pub traffic_shift: TrafficShift,
    /// `ALARMS`: CloudWatch alarms watched during a gradual shift.
    pub alarms: Vec<String>,
    /// The shift's holds are divided by this: 1, except against the tests' emulator
    /// (`AWS_ROLE_DEPLOY_TEST_TIME_SCALE`, accepted only with a loopback Lambda endpoint).
    pub shift_time_scale: u32,
    /// `VERSION`: move `alias` to this existing published version, and change nothing else
    /// (no code source, no configuration).
    pub version: Option<String>,
    /// `KEEP_VERSIONS`: after success, delete published versions beyond the newest N that no
    /// alias points at and that have no provisioned concurrency. None: keep all.
    pub keep_versions: Option<u16>,
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
}
