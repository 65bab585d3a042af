//! Documents sent and received as raw JSON: task definitions and function configurations keep
//! fields the SDK's types do not know, and zip uploads are written without copies.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::AwsFailure;

/// A request interceptor that replaces the body the SDK serialised with `body`, before signing:
/// for documents sent exactly as the user wrote them (task definitions, function
/// configurations) or written without copies (zip uploads).
pub fn with_body(body: bytes::Bytes) -> impl Fn(&mut aws_smithy_runtime_api::http::Request) + Send + Sync + 'static {
    move |request| {
        let length = body.len().to_string();
        *request.body_mut() = aws_smithy_types::body::SdkBody::from(body.clone());
        request.headers_mut().insert("content-length", length);
    }
}

/// Keeps the raw body of one response: for documents the SDK's types would lose fields of
/// (task definitions, function configurations), which are then sent back as they are.
#[derive(Debug, Clone, Default)]
pub struct RawResponse(Arc<Mutex<Option<Vec<u8>>>>);

impl RawResponse {
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }

    pub fn json(&self, operation: &'static str) -> Result<serde_json::Value, AwsFailure> {
        let bytes = self.take().unwrap_or_default();
        serde_json::from_slice(&bytes)
            .map_err(|err| AwsFailure::local(operation, format!("the response is not JSON: {err}")))
    }
}

impl Intercept for RawResponse {
    fn name(&self) -> &'static str {
        "RawResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}
