//! One module per action. Each returns an outcome that is `Display` (the final `✔` line) and
//! `Serialize` (the outputs files).

pub mod assume_role;
pub mod diff;
pub mod ecs;
pub mod lambda;

use std::fmt;

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    AssumeRole(assume_role::AssumeRoleOutcome),
    EcsDeploy(ecs::EcsOutcome),
    LambdaDeploy(lambda::LambdaOutcome),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AssumeRole(outcome) => outcome.fmt(f),
            Outcome::EcsDeploy(outcome) => outcome.fmt(f),
            Outcome::LambdaDeploy(outcome) => outcome.fmt(f),
        }
    }
}

/// Prefix of the variables in the env outputs file, so sourcing it clobbers nothing else.
pub const ENV_PREFIX: &str = "AWS_ROLE_DEPLOY_";

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The JSON flattened into `KEY=value` pairs: `{"a": {"b": 1}}` → `AWS_ROLE_DEPLOY_A_B=1`,
    /// list items by index. One shape for both files, so they cannot disagree.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        flatten(ENV_PREFIX.trim_end_matches('_'), &self.to_json(), &mut pairs);
        pairs
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}_{}", key.to_ascii_uppercase()), value, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}_{index}"), item, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_flatten_to_env_names() {
        let mut pairs = Vec::new();
        let value = serde_json::json!({"a": "x", "n": 2, "list": [{"k": true}], "none": null});
        flatten("P", &value, &mut pairs);
        let expected = [("P_A", "x"), ("P_LIST_0_K", "true"), ("P_N", "2")];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
    }
}
