//! Answers from outside, read defensively: a registry's refusal, the Docker daemon's push stream,
//! and the shape of an AWS answer the SDK could not read. Each takes whatever bytes came and
//! never fails (the fuzz targets drive these with arbitrary input).

use std::collections::HashMap;

use serde_json::Value;

/// What a registry said in a refusal: the first error's code and message of an OCI error
/// document, else its plain text (or just the status). ECR answers an expired token with a
/// plain-text 403 ("Your authorization token has expired. Reauthenticate and try again.").
pub fn registry_refusal(status: u16, body: &[u8]) -> (Option<String>, String) {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|doc| {
            let first = doc.get("errors")?.get(0)?.clone();
            Some((
                Some(first.get("code")?.as_str()?.to_owned()),
                first
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ))
        })
        .unwrap_or_else(|| (None, plain_answer(status, body)))
}

fn plain_answer(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if line.is_empty() || line.starts_with('<') {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {line}")
    }
}

/// The daemon's push stream (one JSON object a line) reduced to one line per layer state change,
/// the digest it reports at the end, and the error that ends a failed push.
#[derive(Default)]
pub struct PushProgress {
    pub states: HashMap<String, String>,
    pub digest: Option<String>,
    pub error: Option<String>,
}

/// What a line of the push stream is worth saying.
#[derive(Debug, PartialEq, Eq)]
pub enum ProgressLine {
    /// A layer changed state ("abc: Pushed").
    Layer(String),
    /// A status without a layer ("The push refers to repository …"): for DEBUG.
    Status(String),
}

/// At most this many layers are remembered: a daemon names a few dozen; a stream naming more is
/// not a push stream, and its states are not worth the memory.
const MAX_LAYERS: usize = 4096;

impl PushProgress {
    pub fn line(&mut self, line: &[u8]) -> Option<ProgressLine> {
        let event = serde_json::from_slice::<Value>(line).ok()?;
        if let Some(error) = event
            .get("errorDetail")
            .and_then(|detail| detail.get("message"))
            .or_else(|| event.get("error"))
            .and_then(Value::as_str)
        {
            self.error = Some(error.to_owned());
            return None;
        }
        if let Some(digest) = event
            .get("aux")
            .and_then(|aux| aux.get("Digest"))
            .and_then(Value::as_str)
        {
            self.digest = Some(digest.to_owned());
            return None;
        }
        let status = event.get("status").and_then(Value::as_str).unwrap_or_default();
        if status.is_empty() {
            return None;
        }
        let Some(id) = event.get("id").and_then(Value::as_str) else {
            return Some(ProgressLine::Status(status.to_owned()));
        };
        // "Pushing" repeats with every progress tick: only a change of state is a line.
        if self.states.get(id).map(String::as_str) == Some(status) {
            return None;
        }
        if self.states.len() < MAX_LAYERS || self.states.contains_key(id) {
            self.states.insert(id.to_owned(), status.to_owned());
        }
        Some(ProgressLine::Layer(format!("{id}: {status}")))
    }
}

/// How much of an unreadable answer's shape is kept (characters, roughly).
pub const MASKED_MAX: usize = 4096;
/// A key longer than this is cut: keys are names, and a huge one is not worth a DEBUG line.
const KEY_MAX: usize = 100;

/// An unreadable response for DEBUG: its shape, never its values. In JSON (even cut off), the
/// keys stay and every string value becomes "***", numbers "0"; anything else (a proxy's page)
/// shows its first 300 characters, control characters and registered secrets masked.
pub fn masked_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        let head: String = text
            .chars()
            .take(300)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        return super::secret::redact(&head).into_owned();
    }
    // Strings: a key when a ':' follows it, a value otherwise (also one cut off at the end).
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(chars.len().min(MASKED_MAX));
    let mut i = 0;
    while i < chars.len() && out.len() < MASKED_MAX {
        let c = chars[i];
        if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            let end = i.min(chars.len());
            let next = chars[(end + 1).min(chars.len())..].iter().find(|c| !c.is_whitespace());
            if next == Some(&':') {
                out.extend(chars[start..end].iter().filter(|c| !c.is_control()).take(KEY_MAX));
                out.push('"');
            } else {
                out.push_str("\"***\"");
            }
            i = end + 1;
        } else if c.is_ascii_digit() || c == '-' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-' | '+')) {
                i += 1;
            }
            out.push('0');
        } else {
            if !c.is_control() {
                out.push(c);
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_one_line_per_state_and_the_digest() {
        let mut progress = PushProgress::default();
        let said: Vec<Option<ProgressLine>> = [
            r#"{"status":"The push refers to repository [127.0.0.1:5000/app]"}"#,
            r#"{"status":"Preparing","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Pushing","progressDetail":{"current":1,"total":9},"id":"abc"}"#,
            r#"{"status":"Pushing","progressDetail":{"current":5,"total":9},"id":"abc"}"#,
            r#"{"status":"Pushed","progressDetail":{},"id":"abc"}"#,
            r#"{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:00","Size":1}}"#,
            "not json",
        ]
        .iter()
        .map(|line| progress.line(line.as_bytes()))
        .collect();
        assert_eq!(
            said,
            vec![
                Some(ProgressLine::Status(
                    "The push refers to repository [127.0.0.1:5000/app]".into()
                )),
                Some(ProgressLine::Layer("abc: Preparing".into())),
                Some(ProgressLine::Layer("abc: Pushing".into())),
                None,
                Some(ProgressLine::Layer("abc: Pushed".into())),
                None,
                None,
            ]
        );
        assert_eq!(progress.states["abc"], "Pushed");
        assert_eq!(progress.digest.as_deref(), Some("sha256:00"));
        progress.line(br#"{"errorDetail":{"message":"unauthorized: authentication required"},"error":"x"}"#);
        assert_eq!(progress.error.as_deref(), Some("unauthorized: authentication required"));
    }

    #[test]
    fn progress_remembers_a_bounded_number_of_layers() {
        let mut progress = PushProgress::default();
        for n in 0..(MAX_LAYERS + 100) {
            progress.line(format!(r#"{{"status":"Pushed","id":"l{n}"}}"#).as_bytes());
        }
        assert_eq!(progress.states.len(), MAX_LAYERS);
    }

    #[test]
    fn registry_refusals_read_oci_errors_then_plain_text() {
        let oci = br#"{"errors":[{"code":"DENIED","message":"not authorized"}]}"#;
        assert_eq!(
            registry_refusal(403, oci),
            (Some("DENIED".into()), "not authorized".into())
        );
        let expired = b"Your authorization token has expired.\nReauthenticate and try again.";
        assert_eq!(
            registry_refusal(403, expired),
            (
                None,
                "HTTP 403: Your authorization token has expired. Reauthenticate and try again.".into()
            )
        );
        assert_eq!(
            registry_refusal(502, b"<html>bad gateway</html>"),
            (None, "HTTP 502".into())
        );
        assert_eq!(
            registry_refusal(500, br#"{"errors":[]}"#),
            (None, "HTTP 500: {\"errors\":[]}".into())
        );
    }
}
