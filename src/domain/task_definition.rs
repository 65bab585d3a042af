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

/// The RegisterTaskDefinition request body for a document in either shape users have: the
/// request itself, or `aws ecs describe-task-definition` output (`{"taskDefinition": {...},
/// "tags": [...]}`). Returns the body and the read-only fields that were dropped.
pub fn request_body(document: Value) -> Result<(Value, Vec<String>), String> {
    let Value::Object(mut outer) = document else {
        return Err("must be a JSON object (a task definition)".to_owned());
    };
    let mut body = match outer.remove("taskDefinition") {
        Some(Value::Object(inner)) => {
            let mut inner = inner;
            if let Some(tags) = outer
                .remove("tags")
                .filter(|tags| tags.as_array().is_some_and(|t| !t.is_empty()))
            {
                inner.insert("tags".to_owned(), tags);
            }
            inner
        }
        Some(_) => return Err("has a \"taskDefinition\" that is not an object".to_owned()),
        None => outer,
    };
    let dropped: Vec<String> = READ_ONLY_FIELDS
        .iter()
        .filter(|field| body.remove(**field).is_some())
        .map(|field| field.to_string())
        .collect();
    check_shape(&body)?;
    Ok((Value::Object(body), dropped))
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
        assert_eq!(dropped.len(), 7);
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
        assert!(dropped.is_empty());
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
