//! Task definitions as JSON documents: read from a file or from ECS, changed only where asked
//! (images), and registered exactly as written, so fields this code does not know survive.

use serde_json::{Map, Value};

use crate::domain::ecs::ImageChange;

/// Fields ECS adds to a registered definition; RegisterTaskDefinition refuses them.
pub const READ_ONLY_FIELDS: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// What `request_body` took out of a document before registering it, each said in a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Read-only fields ECS adds to what it describes (`taskDefinitionArn`, `revision`…).
    pub read_only: Vec<String>,
    /// Keys of tags with AWS's reserved `aws:` prefix, which RegisterTaskDefinition refuses.
    pub reserved_tags: Vec<String>,
    /// Where the document had JSON `null`s, as written (`containerDefinitions[0].user`): a
    /// member not set, as old console exports write every field they leave empty.
    pub nulls: Vec<String>,
}

/// The RegisterTaskDefinition request body for a document in either shape users have: the
/// request itself, or `aws ecs describe-task-definition` output (`{"taskDefinition": {...},
/// "tags": [...]}`). Returns the body and what was dropped from it; `tags` of another shape
/// than ECS's list of `{key, value}` is refused.
pub fn request_body(mut document: Value) -> Result<(Value, Dropped), String> {
    let mut dropped = Dropped::default();
    drop_nulls(&mut document, "", &mut dropped.nulls);
    let Value::Object(mut outer) = document else {
        return Err("must be a JSON object (a task definition)".to_owned());
    };
    let mut body = match outer.remove("taskDefinition") {
        Some(Value::Object(inner)) => {
            let mut inner = inner;
            if let Some(tags) = outer.remove("tags") {
                check_tags(&tags)?;
                if tags.as_array().is_some_and(|tags| !tags.is_empty()) {
                    inner.insert("tags".to_owned(), tags);
                }
            }
            inner
        }
        Some(_) => return Err("has a \"taskDefinition\" that is not an object".to_owned()),
        None => outer,
    };
    if let Some(tags) = body.get("tags") {
        check_tags(tags)?;
    }
    dropped.read_only = READ_ONLY_FIELDS
        .iter()
        .filter(|field| body.remove(**field).is_some())
        .map(|field| field.to_string())
        .collect();
    dropped.reserved_tags = drop_reserved_tags(&mut body);
    check_shape(&body)?;
    Ok((Value::Object(body), dropped))
}

/// Remove every JSON `null`, at any depth (object members and list items), noting where each was.
fn drop_nulls(value: &mut Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            fields.retain(|key, field| {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if field.is_null() {
                    found.push(here);
                    return false;
                }
                drop_nulls(field, &here, found);
                true
            });
        }
        Value::Array(items) => {
            let mut index = 0;
            items.retain_mut(|item| {
                let here = format!("{path}[{index}]");
                index += 1;
                if item.is_null() {
                    found.push(here);
                    return false;
                }
                drop_nulls(item, &here, found);
                true
            });
        }
        _ => {}
    }
}

/// ECS's tags are a list of `{"key": …, "value": …}` objects. A map (`{"team": "web"}`, the
/// shape CloudFormation's and Terraform's users write) or CloudFormation's `Key`/`Value` is
/// refused, with the list it should be.
fn check_tags(tags: &Value) -> Result<(), String> {
    const SHAPE: &str = "\"tags\" must be a list of {\"key\": …, \"value\": …} objects";
    match tags {
        Value::Object(map) => {
            let listed: Vec<Value> = map
                .iter()
                .take(3)
                .map(|(key, value)| serde_json::json!({"key": key, "value": value}))
                .collect();
            let more = if map.len() > listed.len() { ", …" } else { "" };
            let listed = Value::Array(listed).to_string();
            Err(format!(
                "has \"tags\" written as an object: {SHAPE}, e.g. \"tags\": {}{more}]",
                listed.trim_end_matches(']')
            ))
        }
        Value::Array(items) => {
            for (index, tag) in items.iter().enumerate() {
                let fields = tag.as_object();
                let well_formed = fields.is_some_and(|fields| {
                    fields.get("key").is_some_and(Value::is_string)
                        && fields.get("value").is_none_or(Value::is_string)
                        && fields.keys().all(|key| key == "key" || key == "value")
                });
                if !well_formed {
                    return Err(format!(
                        "has tags[{index}] that is not {{\"key\": \"…\", \"value\": \"…\"}} (lowercase, strings): {SHAPE}"
                    ));
                }
            }
            Ok(())
        }
        _ => Err(format!("has \"tags\" that is not a list: {SHAPE}")),
    }
}

/// Tags whose key or value starts with `aws:` are AWS's own (CloudFormation puts
/// `aws:cloudformation:*` on the revisions it registers, and DescribeTaskDefinition returns
/// them); RegisterTaskDefinition refuses them. Returns the keys dropped.
fn drop_reserved_tags(body: &mut Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(tags)) = body.get_mut("tags") else {
        return Vec::new();
    };
    let reserved = |tag: &Value| {
        let field = |name: &str| tag.get(name).and_then(Value::as_str).unwrap_or_default();
        is_reserved_tag(field("key"), field("value"))
    };
    let dropped = tags
        .iter()
        .filter(|tag| reserved(tag))
        .map(|tag| tag.get("key").and_then(Value::as_str).unwrap_or_default().to_owned())
        .collect();
    tags.retain(|tag| !reserved(tag));
    if tags.is_empty() {
        body.remove("tags");
    }
    dropped
}

/// ECS reserves the `aws:` prefix, in any case, of tag keys and values for AWS's own tags
/// (CloudFormation's `aws:cloudformation:*`): RegisterTaskDefinition and RunTask refuse them.
pub fn is_reserved_tag(key: &str, value: &str) -> bool {
    [key, value]
        .iter()
        .any(|text| text.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")))
}

/// A task definition as ECS compares it, for diffs only: empty lists and objects dropped, and
/// the defaults ECS fills in (container `cpu: 0` and `essential: true`, port mappings'
/// `protocol: "tcp"` and a `hostPort` equal to the `containerPort`), so that a file and the
/// revision registered from it read the same. What is sent to ECS stays as written.
pub fn normalized(body: &Value) -> Value {
    let mut body = body.clone();
    // Every revision answers it now, whether or not it was registered with it.
    if let Some(fields) = body.as_object_mut() {
        drop_default(fields, "enableFaultInjection", &Value::Bool(false));
    }
    for container in body
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        drop_default(container, "cpu", &Value::from(0));
        drop_default(container, "essential", &Value::Bool(true));
        for mapping in container
            .get_mut("portMappings")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            drop_default(mapping, "protocol", &Value::from("tcp"));
            if mapping.get("hostPort").is_some() && mapping.get("hostPort") == mapping.get("containerPort") {
                mapping.remove("hostPort");
            }
        }
    }
    prune_empty(&mut body);
    body
}

fn drop_default(fields: &mut Map<String, Value>, key: &str, default: &Value) {
    if fields.get(key) == Some(default) {
        fields.remove(key);
    }
}

/// Remove nulls, empty lists and empty objects from every object, at every depth.
fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.values_mut().for_each(prune_empty);
            fields.retain(|_, field| !is_empty(field));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

fn check_shape(body: &Map<String, Value>) -> Result<(), String> {
    if body.get("family").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err("has no \"family\"".to_owned());
    }
    let containers = body.get("containerDefinitions").and_then(Value::as_array);
    if containers.is_none_or(|containers| containers.is_empty()) {
        return Err("has no \"containerDefinitions\"".to_owned());
    }
    if containers
        .into_iter()
        .flatten()
        .any(|container| container.get("name").and_then(Value::as_str).is_none())
    {
        return Err("has a container definition without a \"name\"".to_owned());
    }
    Ok(())
}

pub fn family(body: &Value) -> &str {
    body.get("family").and_then(Value::as_str).unwrap_or_default()
}

pub fn container_names(body: &Value) -> Vec<String> {
    containers(body)
        .filter_map(|container| container.get("name")?.as_str().map(str::to_owned))
        .collect()
}

fn containers(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The container a one-off task's command applies to: the named one, else the only essential one.
pub fn command_container(body: &Value, named: Option<&str>) -> Result<String, String> {
    let names = container_names(body);
    if let Some(named) = named {
        return if names.iter().any(|name| name == named) {
            Ok(named.to_owned())
        } else {
            Err(format!(
                "has no container {named:?}; its containers: {}",
                names.join(", ")
            ))
        };
    }
    let essential: Vec<String> = containers(body)
        .filter(|container| container.get("essential").and_then(Value::as_bool) != Some(false))
        .filter_map(|container| container.get("name")?.as_str().map(str::to_owned))
        .collect();
    match essential.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(format!(
            "has {} essential containers ({}): set CONTAINER_NAME to the one that runs RUN_TASK_COMMAND",
            essential.len(),
            essential.join(", ")
        )),
    }
}

/// Replace images; every named container must exist. A change without a container name
/// applies to the only container there is.
pub fn set_images(body: &mut Value, changes: &[ImageChange]) -> Result<Vec<(String, String, String)>, String> {
    let names = container_names(body);
    let mut applied = Vec::new();
    for change in changes {
        let target = match (&change.container, names.as_slice()) {
            (Some(name), _) if names.contains(name) => name.clone(),
            (Some(name), _) => {
                return Err(format!(
                    "there is no container {name:?} in the task definition; its containers: {}",
                    names.join(", ")
                ));
            }
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(format!(
                    "the task definition has {} containers ({}): set CONTAINER_NAME with IMAGE, or use IMAGES",
                    names.len(),
                    names.join(", ")
                ));
            }
        };
        let container = body
            .get_mut("containerDefinitions")
            .and_then(Value::as_array_mut)
            .and_then(|containers| {
                containers
                    .iter_mut()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(&target))
            });
        if let Some(Value::Object(container)) = container {
            let old = container
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            container.insert("image".to_owned(), Value::String(change.image.clone()));
            applied.push((target, old, change.image.clone()));
        }
    }
    Ok(applied)
}

/// `arn:aws:ecs:eu-west-1:1:task-definition/web:42` or `web:42` → ("web", 42).
pub fn family_revision(reference: &str) -> Option<(&str, u32)> {
    let tail = reference
        .rsplit_once("task-definition/")
        .map_or(reference, |(_, tail)| tail);
    let (family, revision) = tail.rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

/// `web:42`, for logs.
pub fn short_name(reference: &str) -> String {
    match family_revision(reference) {
        Some((family, revision)) => format!("{family}:{revision}"),
        None => reference.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_aws_prefix_is_reserved_in_any_case_in_keys_and_values() {
        for (key, value, reserved) in [
            ("aws:cloudformation:stack-name", "prod", true),
            ("AWS:foo", "x", true),
            ("Aws:", "", true),
            ("team", "aws:codepipeline", true),
            ("team", "platform", false),
            ("awsome", "aws", false),
            ("", "", false),
            ("éaws:", "x", false),
        ] {
            assert_eq!(is_reserved_tag(key, value), reserved, "{key}={value}");
        }
    }

    #[test]
    fn both_shapes_give_the_same_request_body() {
        let described = json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/web:3",
                "family": "web", "revision": 3, "status": "ACTIVE",
                "requiresAttributes": [], "compatibilities": ["FARGATE"],
                "registeredAt": 1, "registeredBy": "x",
                "containerDefinitions": [{"name": "app", "image": "a:1"}],
                "someFutureField": {"x": 1}
            },
            "tags": [{"key": "team", "value": "web"}]
        });
        let (body, dropped) = request_body(described).unwrap();
        assert_eq!(dropped.read_only.len(), 7);
        assert_eq!(
            body,
            json!({
                "family": "web",
                "containerDefinitions": [{"name": "app", "image": "a:1"}],
                "someFutureField": {"x": 1},
                "tags": [{"key": "team", "value": "web"}]
            })
        );
        let (same, dropped) = request_body(body.clone()).unwrap();
        assert_eq!(same, body);
        assert_eq!(dropped, Dropped::default());
    }

    #[test]
    fn reserved_tags_are_dropped_and_named() {
        let described = json!({
            "taskDefinition": {"family": "web", "containerDefinitions": [{"name": "app", "image": "a:1"}]},
            "tags": [
                {"key": "aws:cloudformation:stack-name", "value": "prod"},
                {"key": "team", "value": "web"},
                {"key": "origin", "value": "AWS:console"}
            ]
        });
        let (body, dropped) = request_body(described).unwrap();
        assert_eq!(body["tags"], json!([{"key": "team", "value": "web"}]));
        assert_eq!(dropped.reserved_tags, ["aws:cloudformation:stack-name", "origin"]);
        let only_reserved = json!({"family": "web", "containerDefinitions": [{"name": "app"}],
            "tags": [{"key": "aws:x", "value": "y"}]});
        assert!(request_body(only_reserved).unwrap().0.get("tags").is_none());
    }

    #[test]
    fn nulls_are_dropped_at_any_depth_and_named_where_they_were() {
        let exported = json!({
            "family": "web", "cpu": null, "ipcMode": null,
            "containerDefinitions": [{
                "name": "app", "image": "a:1", "user": null,
                "logConfiguration": {"logDriver": "awslogs", "secretOptions": null,
                    "options": {"awslogs-group": "/ecs/web"}},
                "environment": [{"name": "A", "value": "1"}, null],
                "linuxParameters": {"capabilities": null}
            }],
            "volumes": [{"name": "data", "host": null, "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": null}}]
        });
        let (body, dropped) = request_body(exported).unwrap();
        assert_eq!(
            dropped.nulls,
            // Object members in serde_json's order (sorted), list items in theirs.
            [
                "containerDefinitions[0].environment[1]",
                "containerDefinitions[0].linuxParameters.capabilities",
                "containerDefinitions[0].logConfiguration.secretOptions",
                "containerDefinitions[0].user",
                "cpu",
                "ipcMode",
                "volumes[0].efsVolumeConfiguration.rootDirectory",
                "volumes[0].host",
            ]
        );
        assert_eq!(
            body,
            json!({
                "family": "web",
                "containerDefinitions": [{
                    "name": "app", "image": "a:1",
                    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
                    "environment": [{"name": "A", "value": "1"}],
                    "linuxParameters": {}
                }],
                "volumes": [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]
            }),
            "empty objects left by nulls stay: only the nulls go"
        );
        assert!(dropped.read_only.is_empty() && dropped.reserved_tags.is_empty());
        // In describe-task-definition output, paths are the file's own.
        let described = json!({"taskDefinition": {"family": "web", "containerDefinitions": [{"name": "app", "user": null}],
            "deregisteredAt": null}, "tags": null});
        let (_, dropped) = request_body(described).unwrap();
        assert_eq!(
            dropped.nulls,
            [
                "tags",
                "taskDefinition.containerDefinitions[0].user",
                "taskDefinition.deregisteredAt"
            ]
        );
    }

    #[test]
    fn tags_must_be_a_list_of_key_value_objects() {
        let with_tags = |tags: Value| json!({"family": "web", "containerDefinitions": [{"name": "app"}], "tags": tags});
        let object = request_body(with_tags(json!({"team": "web", "env": "prod"}))).unwrap_err();
        assert!(object.contains("\"tags\" written as an object"), "{object}");
        assert!(
            object.contains(r#""tags": [{"key":"env","value":"prod"},{"key":"team","value":"web"}]"#),
            "the right shape, from the user's own tags: {object}"
        );
        let many: Map<String, Value> = (0..5).map(|i| (format!("k{i}"), json!("v"))).collect();
        let many = request_body(with_tags(Value::Object(many))).unwrap_err();
        assert!(many.contains(r#"{"key":"k2","value":"v"}, …]"#), "{many}");
        for (tags, expected) in [
            (json!([{"Key": "team", "Value": "web"}]), "tags[0] that is not"),
            (
                json!([{"key": "team", "value": "web"}, "env=prod"]),
                "tags[1] that is not",
            ),
            (json!([{"key": 3, "value": "web"}]), "tags[0] that is not"),
            (json!("team=web"), "\"tags\" that is not a list"),
        ] {
            let message = request_body(with_tags(tags)).unwrap_err();
            assert!(
                message.contains(expected) && message.contains("{\"key\": …, \"value\": …}"),
                "{message}"
            );
        }
        let described = json!({"taskDefinition": {"family": "web", "containerDefinitions": [{"name": "app"}]},
            "tags": {"team": "web"}});
        assert!(request_body(described).unwrap_err().contains("written as an object"));
        for fine in [
            json!([]),
            json!([{"key": "team", "value": "web"}, {"key": "solo"}]),
            Value::Null,
        ] {
            assert!(request_body(with_tags(fine.clone())).is_ok(), "{fine}");
        }
    }

    #[test]
    fn normalised_documents_compare_like_ecs_compares_them() {
        let written = json!({
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "a:1",
                "portMappings": [{"containerPort": 8080}], "environment": []}],
            "volumes": []
        });
        let described = json!({
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "a:1", "cpu": 0, "essential": true,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "environment": [], "mountPoints": [], "volumesFrom": [], "systemControls": []}],
            "volumes": [], "placementConstraints": [], "proxyConfiguration": null,
            "enableFaultInjection": false
        });
        assert_eq!(normalized(&written), normalized(&described));
        let kept = json!({"family": "web", "containerDefinitions": [{"name": "app", "cpu": 256,
            "essential": false, "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}]}]});
        assert_eq!(normalized(&kept), kept, "values that are not ECS's defaults stay");
    }

    #[test]
    fn malformed_definitions_are_explained() {
        for (doc, expected) in [
            (json!([1]), "JSON object"),
            (json!({"containerDefinitions": [{"name": "a"}]}), "no \"family\""),
            (json!({"family": "f"}), "no \"containerDefinitions\""),
            (
                json!({"family": "f", "containerDefinitions": [{"image": "x"}]}),
                "without a \"name\"",
            ),
            (json!({"taskDefinition": 3}), "not an object"),
        ] {
            assert!(request_body(doc).unwrap_err().contains(expected), "{expected}");
        }
    }

    #[test]
    fn images_change_only_in_named_containers() {
        let mut body = json!({"family": "f", "containerDefinitions": [{"name": "app", "image": "a:1"}, {"name": "envoy", "image": "e:1"}]});
        let changes = [ImageChange {
            container: Some("app".into()),
            image: "a:2".into(),
        }];
        assert_eq!(
            set_images(&mut body, &changes).unwrap(),
            vec![("app".into(), "a:1".into(), "a:2".into())]
        );
        assert_eq!(body["containerDefinitions"][1]["image"], "e:1");
        let unknown = [ImageChange {
            container: Some("web".into()),
            image: "w".into(),
        }];
        assert!(
            set_images(&mut body, &unknown)
                .unwrap_err()
                .contains("its containers: app, envoy")
        );
        let unnamed = [ImageChange {
            container: None,
            image: "w".into(),
        }];
        assert!(
            set_images(&mut body, &unnamed)
                .unwrap_err()
                .contains("set CONTAINER_NAME")
        );
        let mut single = json!({"family": "f", "containerDefinitions": [{"name": "app", "image": "a:1"}]});
        set_images(&mut single, &unnamed).unwrap();
        assert_eq!(single["containerDefinitions"][0]["image"], "w");
    }

    #[test]
    fn command_container_is_named_or_the_only_essential_one() {
        let body = json!({"family": "f", "containerDefinitions": [
            {"name": "app"}, {"name": "envoy", "essential": false}
        ]});
        assert_eq!(command_container(&body, None).unwrap(), "app");
        assert_eq!(command_container(&body, Some("envoy")).unwrap(), "envoy");
        assert!(command_container(&body, Some("x")).is_err());
        let two = json!({"family": "f", "containerDefinitions": [{"name": "a"}, {"name": "b"}]});
        assert!(command_container(&two, None).unwrap_err().contains("CONTAINER_NAME"));
    }

    #[test]
    fn references() {
        assert_eq!(
            family_revision("arn:aws:ecs:eu-west-1:1:task-definition/web:42"),
            Some(("web", 42))
        );
        assert_eq!(family_revision("web:7"), Some(("web", 7)));
        assert_eq!(family_revision("web"), None);
        assert_eq!(short_name("arn:aws-cn:ecs:cn-north-1:1:task-definition/api:3"), "api:3");
    }
}
