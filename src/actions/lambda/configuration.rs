//! Step 3 of a Lambda deploy: the fields of `FUNCTION_CONFIGURATION`, compared with the
//! function's and sent exactly as written.

use std::time::Instant;

use serde_json::Value;
use tracing::info;

use super::busy;
use super::function::FunctionState;
use super::readback;
use crate::actions::diff;
use crate::aws::{self, AwsFailure, RawResponse};
use crate::error::Error;

/// The fields of the file that differ from the function's current configuration (values under
/// `Environment` masked). Only the file's own fields are compared.
pub(super) async fn changes(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    wanted: &Value,
) -> Result<Vec<String>, Error> {
    let lines = differences(lambda, function, wanted).await?;
    if !lines.is_empty() {
        info!("Configuration changes (environment values masked):");
        for line in &lines {
            info!("  {line}");
        }
    }
    Ok(lines)
}

/// The fields of the file that differ from the function's configuration as it is now.
async fn differences(lambda: &aws_sdk_lambda::Client, function: &str, wanted: &Value) -> Result<Vec<String>, Error> {
    const OPERATION: &str = "lambda:GetFunctionConfiguration";
    let raw = RawResponse::default();
    let request = lambda
        .get_function_configuration()
        .function_name(function)
        .customize()
        .interceptor(raw.clone());
    aws::call(OPERATION, request.send())
        .await
        .map_err(AwsFailure::into_error)?;
    let current = raw.json(OPERATION).map_err(AwsFailure::into_error)?;
    Ok(diff::diff(&shaped_like(&current, wanted), wanted))
}

/// The current configuration in the shape of the request: only the fields the file sets (at
/// every depth), and `Layers` as ARNs, since GetFunctionConfiguration answers with more (a
/// `VpcId`, layer sizes) than UpdateFunctionConfiguration takes.
fn shaped_like(current: &Value, wanted: &Value) -> Value {
    match (current, wanted) {
        (Value::Object(current), Value::Object(wanted)) => Value::Object(
            wanted
                .iter()
                .map(|(key, want)| (key.clone(), shaped_like(current.get(key).unwrap_or(&Value::Null), want)))
                .collect(),
        ),
        (Value::Array(current), Value::Array(wanted)) if wanted.iter().all(Value::is_string) => Value::Array(
            current
                .iter()
                .map(|item| item.get("Arn").cloned().unwrap_or_else(|| item.clone()))
                .collect(),
        ),
        (current, _) => current.clone(),
    }
}

/// UpdateFunctionConfiguration with the file's fields exactly as written, plus the RevisionId
/// observed, so a concurrent change is refused rather than overwritten.
pub(super) async fn update(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    wanted: &Value,
    state: &FunctionState,
    deadline: Instant,
) -> Result<(), Error> {
    let mut body = wanted.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("RevisionId".to_owned(), Value::String(state.revision_id.clone()));
    }
    let bytes = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let answered = busy(function, deadline)
        .retry(|| {
            let request = lambda
                .update_function_configuration()
                .function_name(function)
                .customize()
                .mutate_request(aws::with_body(bytes.clone()));
            aws::call("lambda:UpdateFunctionConfiguration", request.send())
        })
        .await;
    match answered {
        Ok(_) => Ok(()),
        Err(failure)
            if matches!(
                failure.code.as_deref(),
                Some("InvalidParameterValueException" | "ValidationException" | "SerializationException")
            ) =>
        {
            Err(Error::BadInput {
                summary: format!("Lambda refused the configuration (FUNCTION_CONFIGURATION): {failure}"),
                details: vec![],
            })
        }
        Err(failure) => {
            readback::configuration_update_refused(function, failure, async || {
                differences(lambda, function, wanted).await
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn current_configuration_is_compared_in_the_request_shape() {
        let current = json!({
            "MemorySize": 256, "Runtime": "python3.12",
            "VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["g-1"], "VpcId": "vpc-1"},
            "Layers": [{"Arn": "arn:aws:lambda:eu-west-1:1:layer:a:3", "CodeSize": 10}],
            "Environment": {"Variables": {"A": "1"}}
        });
        let wanted = json!({
            "MemorySize": 256,
            "VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["g-1"]},
            "Layers": ["arn:aws:lambda:eu-west-1:1:layer:a:3"],
            "Environment": {"Variables": {"A": "1"}}
        });
        assert!(diff::diff(&shaped_like(&current, &wanted), &wanted).is_empty());
        let changed = json!({"MemorySize": 512, "Timeout": 30});
        let lines = diff::diff(&shaped_like(&current, &changed), &changed);
        assert_eq!(lines, vec!["~ MemorySize: 256 → 512", "~ Timeout: null → 30"]);
    }
}
