//! The settings of `ACTION=lambda-deploy`, and Lambda's limits on packages.

use std::path::PathBuf;

use serde_json::Value;

/// Lambda's limit for a package uploaded in the request itself (zipped).
pub const DIRECT_UPLOAD_MAX: u64 = 50 * 1024 * 1024;
/// Lambda's limit for the unzipped code: a larger directory cannot deploy, so it is not zipped.
pub const UNZIPPED_MAX: u64 = 250 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub function: String,
    pub code: Option<CodeSource>,
    /// UpdateFunctionConfiguration fields, filled.
    pub configuration: Option<(PathBuf, Value)>,
    pub publish: bool,
    pub version_description: String,
    pub alias: Option<String>,
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
}
