//! What a deployment would change, for dry runs and logs: a readable diff of two JSON
//! documents. Arrays of named objects (containers, environment entries) are matched by name.
//!
//! Only the values of fields known to be safe (images, sizes, names, ARNs, ports, counts…) are
//! shown; every other value is masked with a keyed fingerprint, since secrets hide in many places
//! (log driver options, docker labels, commands, volume driver options), and the old side comes
//! from AWS, where Bitbucket's masking of repository variables cannot reach. Whatever sits under
//! an `environment` key is masked whole, names aside.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Fields whose values are shown in clear: what a reviewer needs to see, and nothing that
/// carries a secret. Task definitions (ECS) and function configurations (Lambda).
const SAFE_FIELDS: &[&str] = &[
    // ECS task definitions and containers
    "family",
    "name",
    "image",
    "cpu",
    "memory",
    "memoryReservation",
    "essential",
    "networkMode",
    "requiresCompatibilities",
    "taskRoleArn",
    "executionRoleArn",
    "containerPort",
    "hostPort",
    "protocol",
    "appProtocol",
    "containerPortRange",
    "sizeInGiB",
    "cpuArchitecture",
    "operatingSystemFamily",
    "logDriver",
    "startPeriod",
    "interval",
    "timeout",
    "retries",
    "readonlyRootFilesystem",
    "privileged",
    "stopTimeout",
    "startTimeout",
    "condition",
    "containerName",
    "sourceVolume",
    "containerPath",
    "readOnly",
    "type",
    "expression",
    "field",
    "softLimit",
    "hardLimit",
    "valueFrom",
    "credentialsParameter",
    "pidMode",
    "ipcMode",
    "enableFaultInjection",
    "initProcessEnabled",
    "workingDirectory",
    "user",
    // Lambda function configurations
    "FunctionName",
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "Role",
    "Description",
    "Layers",
    "Architectures",
    "PackageType",
    "Size",
    "Mode",
    "TargetArn",
    "SubnetIds",
    "SecurityGroupIds",
    "Ipv6AllowedForDualStack",
    "ApplyOn",
    "LogFormat",
    "LogGroup",
    "ApplicationLogLevel",
    "SystemLogLevel",
    "KMSKeyArn",
];

fn is_safe(key: &str) -> bool {
    SAFE_FIELDS.contains(&key)
}

/// One line per change: `~ path: old → new`, `+ path: new`, `- path: old`.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    walk("", "", old, new, false, &mut lines);
    lines
}

/// `key` is the field the values belong to (for array items, the array's field).
fn walk(path: &str, key: &str, old: &Value, new: &Value, masked: bool, lines: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) => {
            for (field, old_value) in old_map {
                let child = join(path, field);
                let masked = masked || is_sensitive(field);
                match new_map.get(field) {
                    Some(new_value) => walk(&child, field, old_value, new_value, masked, lines),
                    None => lines.push(format!("- {child}: {}", show(old_value, field, masked))),
                }
            }
            for (field, new_value) in new_map.iter().filter(|(field, _)| !old_map.contains_key(*field)) {
                let masked = masked || is_sensitive(field);
                lines.push(format!("+ {}: {}", join(path, field), show(new_value, field, masked)));
            }
        }
        (Value::Array(old_items), Value::Array(new_items)) if all_named(old_items) && all_named(new_items) => {
            for old_item in old_items {
                let name = name_of(old_item);
                let child = format!("{path}[{name}]");
                match new_items.iter().find(|item| name_of(item) == name) {
                    Some(new_item) => walk(&child, key, old_item, new_item, masked, lines),
                    None => lines.push(format!("- {child}: {}", show(old_item, key, masked))),
                }
            }
            for new_item in new_items
                .iter()
                .filter(|item| !old_items.iter().any(|old| name_of(old) == name_of(item)))
            {
                lines.push(format!(
                    "+ {path}[{}]: {}",
                    name_of(new_item),
                    show(new_item, key, masked)
                ));
            }
        }
        (old, new) if old == new => {}
        (old, new) if masked || !is_safe(key) => lines.push(format!(
            "~ {path}: changed ({} → {})",
            fingerprint(old),
            fingerprint(new)
        )),
        (old, new) => lines.push(format!(
            "~ {path}: {} → {}",
            show(old, key, false),
            show(new, key, false)
        )),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn is_sensitive(key: &str) -> bool {
    key.eq_ignore_ascii_case("environment")
}

fn all_named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|item| item.get("name").and_then(Value::as_str).is_some())
}

fn name_of(item: &Value) -> &str {
    item.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// A value of field `key` as it may be printed: wholly masked, or with every value of a field
/// not known to be safe masked (an added container brings its whole definition along).
fn show(value: &Value, key: &str, masked: bool) -> String {
    if masked {
        fingerprint(value)
    } else {
        mask_unsafe(value, key).to_string()
    }
}

fn mask_unsafe(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(field, item)| {
                    let shown = if is_sensitive(field) {
                        mask_all(item)
                    } else {
                        mask_unsafe(item, field)
                    };
                    (field.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| mask_unsafe(item, key)).collect()),
        Value::Null => Value::Null,
        leaf if is_safe(key) => leaf.clone(),
        leaf => Value::String(fingerprint(leaf)),
    }
}

/// Names stay readable (`{"name": "DB_PASSWORD", "value": "sha256:…"}`), values do not.
fn mask_all(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let shown = if key == "name" && item.is_string() {
                        item.clone()
                    } else {
                        mask_all(item)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_all).collect()),
        other => Value::String(fingerprint(other)),
    }
}

/// A short keyed hash: enough to see within one run that a value changed, not what it is. The
/// key is new for every run, so a weak secret cannot be guessed from a log by hashing
/// candidates, nor matched across runs.
pub fn fingerprint(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(run_key());
    hasher.update(text.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

fn run_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        // /dev/urandom exists in every container Docker starts, FROM scratch included.
        if std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
            .is_err()
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            key[..16].copy_from_slice(&now.as_nanos().to_le_bytes());
            key[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_and_environment_are_matched_by_name_and_values_masked() {
        let old = json!({
            "family": "web",
            "cpu": "256",
            "containerDefinitions": [
                {"name": "app", "image": "repo/app:1", "environment": [
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                    {"name": "MODE", "value": "a"},
                    {"name": "GONE", "value": "bye"}
                ]},
                {"name": "envoy", "image": "envoy:1"}
            ]
        });
        let new = json!({
            "family": "web",
            "cpu": "512",
            "containerDefinitions": [
                {"name": "envoy", "image": "envoy:1"},
                {"name": "app", "image": "repo/app:2", "environment": [
                    {"name": "MODE", "value": "a"},
                    {"name": "DB_PASSWORD", "value": "correct horse"},
                    {"name": "NEW_SECRET", "value": "s3cr3t"}
                ]}
            ],
            "runtimePlatform": {"cpuArchitecture": "ARM64"}
        });
        let lines = diff(&old, &new);
        let text = lines.join("\n");
        assert_eq!(lines.len(), 6, "{text}");
        assert!(text.contains("~ cpu: \"256\" → \"512\""), "{text}");
        assert!(
            text.contains("~ containerDefinitions[app].image: \"repo/app:1\" → \"repo/app:2\""),
            "{text}"
        );
        assert!(
            text.contains("~ containerDefinitions[app].environment[DB_PASSWORD].value: changed (sha256:"),
            "{text}"
        );
        assert!(
            text.contains("- containerDefinitions[app].environment[GONE]: sha256:"),
            "{text}"
        );
        assert!(
            text.contains("+ containerDefinitions[app].environment[NEW_SECRET]: sha256:"),
            "{text}"
        );
        assert!(
            text.contains("+ runtimePlatform: {\"cpuArchitecture\":\"ARM64\"}"),
            "{text}"
        );
        for secret in ["hunter2", "correct horse", "s3cr3t", "bye"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn lambda_style_environment_maps_are_masked_too() {
        let old = json!({"Environment": {"Variables": {"TOKEN": "a"}}, "MemorySize": 128});
        let new = json!({"Environment": {"Variables": {"TOKEN": "b"}}, "MemorySize": 256});
        let text = diff(&old, &new).join("\n");
        assert!(
            text.contains("~ Environment.Variables.TOKEN: changed (sha256:"),
            "{text}"
        );
        assert!(text.contains("~ MemorySize: 128 → 256"));
        assert!(!text.contains("\"a\"") && !text.contains("\"b\""), "{text}");
    }

    #[test]
    fn added_and_removed_subtrees_mask_their_environment() {
        let old =
            json!({"containerDefinitions": [{"name": "gone", "environment": [{"name": "A", "value": "old-secret"}]}]});
        let new = json!({"containerDefinitions": [{"name": "worker", "image": "w:1",
            "environment": [{"name": "B", "value": "new-secret"}]}], "env": {"environment": {"K": "map-secret"}}});
        let text = diff(&old, &new).join("\n");
        for secret in ["old-secret", "new-secret", "map-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("\"name\":\"B\"") && text.contains("\"image\":\"w:1\""),
            "{text}"
        );
    }

    #[test]
    fn only_fields_known_to_be_safe_are_shown() {
        let old = json!({"containerDefinitions": [{"name": "app", "image": "a:1",
            "logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": "tok-old-123456"}},
            "dockerLabels": {"api-key": "label-secret-1"},
            "command": ["serve", "--password", "cmd-secret-1"]}],
            "volumes": [{"name": "data", "dockerVolumeConfiguration": {"driverOpts": {"password": "vol-secret-1"}}}]});
        let new = json!({"containerDefinitions": [{"name": "app", "image": "a:2",
            "logConfiguration": {"logDriver": "splunk", "options": {"splunk-token": "tok-new-654321"}},
            "dockerLabels": {"api-key": "label-secret-2"},
            "command": ["serve", "--password", "cmd-secret-2"]},
            {"name": "sidecar", "image": "s:1", "entryPoint": ["sh", "-c", "entry-secret"]}],
            "volumes": [{"name": "data", "dockerVolumeConfiguration": {"driverOpts": {"password": "vol-secret-2"}}}]});
        let text = diff(&old, &new).join("\n");
        for secret in [
            "tok-old",
            "tok-new",
            "label-secret",
            "cmd-secret",
            "vol-secret",
            "entry-secret",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("~ containerDefinitions[app].image: \"a:1\" → \"a:2\""),
            "{text}"
        );
        assert!(
            text.contains("logConfiguration.options.splunk-token: changed (sha256:"),
            "{text}"
        );
        assert!(
            text.contains("\"image\":\"s:1\"") && text.contains("\"name\":\"sidecar\""),
            "{text}"
        );
    }

    #[test]
    fn fingerprints_are_stable_within_a_run_and_not_a_plain_hash() {
        let value = json!("hunter2");
        assert_eq!(fingerprint(&value), fingerprint(&value));
        assert_ne!(fingerprint(&value), fingerprint(&json!("hunter3")));
        let plain: String = Sha256::digest(b"hunter2")
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(fingerprint(&value), format!("sha256:{plain}"));
    }

    #[test]
    fn identical_documents_have_no_diff() {
        let doc = json!({"a": [1, 2], "b": {"c": null}});
        assert!(diff(&doc, &doc).is_empty());
    }
}
