//! Reading and registering task definitions as raw JSON documents, so fields the SDK's types
//! do not know survive the round trip. The document rules are `domain::task_definition`.

use serde_json::Value;

use crate::aws::{self, AwsFailure, RawResponse};
use crate::domain::task_definition::family;

/// The task definition as ECS has it, as raw JSON (with its tags), so that re-registering it
/// keeps fields the SDK's types do not know.
pub async fn describe(ecs: &aws_sdk_ecs::Client, reference: &str) -> Result<Value, AwsFailure> {
    const OPERATION: &str = "ecs:DescribeTaskDefinition";
    let raw = RawResponse::default();
    let request = ecs
        .describe_task_definition()
        .task_definition(reference)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .customize()
        .interceptor(raw.clone());
    aws::call(OPERATION, request.send()).await?;
    let described = raw.json(OPERATION)?;
    if !described.get("taskDefinition").is_some_and(Value::is_object) {
        return Err(AwsFailure::local(
            OPERATION,
            format!("ECS answered without the task definition {reference} (and without an error)"),
        ));
    }
    Ok(described)
}

/// Register `body` exactly as given: the SDK builds and signs the request, and the body is
/// replaced by the document before signing.
pub async fn register(ecs: &aws_sdk_ecs::Client, body: &Value) -> Result<(String, i32), AwsFailure> {
    let bytes = bytes::Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let request = ecs
        .register_task_definition()
        .family(family(body))
        .customize()
        .mutate_request(aws::with_body(bytes));
    const OPERATION: &str = "ecs:RegisterTaskDefinition";
    let output = aws::call(OPERATION, request.send()).await?;
    let Some((arn, revision)) = output
        .task_definition()
        .and_then(|td| Some((td.task_definition_arn()?, td.revision())))
    else {
        return Err(AwsFailure::local(
            OPERATION,
            format!(
                "ECS answered without the task definition it registered: a new revision of {} may exist, and the \
                 pipe cannot tell which; no service was updated",
                family(body)
            ),
        ));
    };
    Ok((arn.to_owned(), revision))
}
