//! ECS services on the CODE_DEPLOY deployment controller (blue/green through CodeDeploy): where
//! their deployments go (`CODEDEPLOY_APPLICATION` / `CODEDEPLOY_DEPLOYMENT_GROUP`) and the
//! AppSpec the pipe sends, merged from what it generates and what the user's
//! `CODEDEPLOY_APPSPEC` file adds.
//!
//! The AppSpec's ECS shape ("version" 0.0, one `Resources` item whose `TargetService` has
//! `Type: AWS::ECS::Service` and `Properties` `TaskDefinition`, `LoadBalancerInfo`
//! `ContainerName`/`ContainerPort`, optional `PlatformVersion`, `NetworkConfiguration`,
//! `CapacityProviderStrategy`; `Hooks` a list of one-entry maps of a lifecycle event to a Lambda
//! function): https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html#reference-appspec-file-structure-resources-ecs
//! and https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#appspec-hooks-ecs

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The lifecycle events an ECS AppSpec may hook (the others are CodeDeploy's own).
pub const ECS_HOOKS: [&str; 5] = [
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// The `TargetService` properties a user's AppSpec may set besides the pipe's.
const USER_PROPERTIES: [&str; 4] = [
    "LoadBalancerInfo",
    "PlatformVersion",
    "NetworkConfiguration",
    "CapacityProviderStrategy",
];

/// Placeholders users leave in `TaskDefinition` for a tool to fill (GitHub's ECS action, the
/// console's samples): the pipe fills it, so they are no conflict.
const TASK_DEFINITION_PLACEHOLDERS: [&str; 2] = ["<TASK_DEFINITION>", "<TASK_DEFINITION_ARN>"];

#[derive(Debug, Clone, Default)]
pub struct CodeDeploySettings {
    /// `CODEDEPLOY_APPLICATION`; None: `AppECS-<cluster>-<service>`.
    pub application: Option<String>,
    /// `CODEDEPLOY_DEPLOYMENT_GROUP`; None: `DgpECS-<cluster>-<service>`.
    pub deployment_group: Option<String>,
    /// `CODEDEPLOY_APPSPEC`, checked: what the user's file adds.
    pub appspec: Option<UserAppSpec>,
}

/// The parts of a user's AppSpec file the pipe merges in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserAppSpec {
    /// The file as given (for messages).
    pub path: String,
    /// `TargetService.Properties` the file sets (never `TaskDefinition`).
    pub properties: Map<String, Value>,
    /// `Hooks`, as written.
    pub hooks: Option<Value>,
}

/// The names the ECS console gives the application and deployment group it creates.
pub fn default_names(cluster: &str, service: &str) -> (String, String) {
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    (
        format!("AppECS-{cluster}-{service}"),
        format!("DgpECS-{cluster}-{service}"),
    )
}

/// Check a user's AppSpec document: a problem names the field. The pipe owns `TaskDefinition`;
/// anything the ECS AppSpec does not have is refused rather than silently dropped.
pub fn read_user_appspec(path: &str, document: &Value) -> Result<UserAppSpec, String> {
    let Value::Object(top) = document else {
        return Err("must be an AppSpec object (version, Resources, Hooks)".to_owned());
    };
    let mut user = UserAppSpec {
        path: path.to_owned(),
        ..UserAppSpec::default()
    };
    for (key, value) in top {
        match key.as_str() {
            "version" => {
                let version = value
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| value.as_f64().map(|v| v.to_string()));
                if !matches!(version.as_deref(), Some("0.0" | "0")) {
                    return Err(format!(
                        "version: must be 0.0 (CodeDeploy's only AppSpec version), got {value}"
                    ));
                }
            }
            "Resources" => read_resources(value, &mut user)?,
            "Hooks" => {
                check_hooks(value)?;
                user.hooks = Some(value.clone());
            }
            other => {
                return Err(format!(
                    "{other}: not a field of an ECS AppSpec (version, Resources, Hooks)"
                ));
            }
        }
    }
    Ok(user)
}

fn read_resources(value: &Value, user: &mut UserAppSpec) -> Result<(), String> {
    let items = value.as_array().ok_or("Resources: must be a list")?;
    let [item] = items.as_slice() else {
        return Err(format!(
            "Resources: an ECS AppSpec has exactly one resource (the service), this one has {}",
            items.len()
        ));
    };
    let entries = item.as_object().filter(|entries| entries.len() == 1).ok_or(
        "Resources[0]: must be one named resource, e.g. {\"TargetService\": {\"Type\": \"AWS::ECS::Service\", …}}",
    )?;
    let (name, resource) = entries.iter().next().ok_or("Resources[0]: is empty")?;
    if name != "TargetService" {
        return Err(format!(
            "Resources[0].{name}: an ECS AppSpec names its one resource TargetService"
        ));
    }
    let at = format!("Resources[0].{name}");
    let resource = resource.as_object().ok_or(format!("{at}: must be an object"))?;
    for (key, value) in resource {
        match key.as_str() {
            "Type" if value.as_str() == Some("AWS::ECS::Service") => {}
            "Type" => return Err(format!("{at}.Type: must be AWS::ECS::Service, got {value}")),
            "Properties" => {
                let properties = value.as_object().ok_or(format!("{at}.Properties: must be an object"))?;
                for (property, value) in properties {
                    if property == "TaskDefinition" {
                        if value
                            .as_str()
                            .is_some_and(|v| TASK_DEFINITION_PLACEHOLDERS.contains(&v))
                        {
                            continue;
                        }
                        return Err(format!(
                            "{at}.Properties.TaskDefinition: the pipe sets it to the revision it deploys \
                             (TASK_DEFINITION, IMAGE); remove it from the file, or leave the placeholder \
                             <TASK_DEFINITION>"
                        ));
                    }
                    if !USER_PROPERTIES.contains(&property.as_str()) {
                        return Err(format!(
                            "{at}.Properties.{property}: not a property of an ECS AppSpec's target service \
                             ({})",
                            USER_PROPERTIES.join(", ")
                        ));
                    }
                    if property == "LoadBalancerInfo" {
                        check_load_balancer(&at, value)?;
                    }
                    if property == "NetworkConfiguration" {
                        check_network(&at, value)?;
                    }
                    user.properties.insert(property.clone(), value.clone());
                }
            }
            other => {
                return Err(format!(
                    "{at}.{other}: not a field of an ECS resource (Type, Properties)"
                ));
            }
        }
    }
    Ok(())
}

fn check_load_balancer(at: &str, value: &Value) -> Result<(), String> {
    let info = value
        .as_object()
        .ok_or(format!("{at}.Properties.LoadBalancerInfo: must be an object"))?;
    for (key, value) in info {
        let fine = match key.as_str() {
            "ContainerName" => value.as_str().is_some_and(|name| !name.is_empty()),
            "ContainerPort" => value.as_u64().is_some_and(|port| (1..=65535).contains(&port)),
            _ => {
                return Err(format!(
                    "{at}.Properties.LoadBalancerInfo.{key}: not a field (ContainerName, ContainerPort)"
                ));
            }
        };
        if !fine {
            return Err(format!(
                "{at}.Properties.LoadBalancerInfo.{key}: must be a container name / a port 1-65535, got {value}"
            ));
        }
    }
    Ok(())
}

/// The AppSpec's `NetworkConfiguration.AwsvpcConfiguration` is all or nothing: "if you want to
/// specify Subnets, you must also specify SecurityGroups and AssignPublicIp. If none is
/// specified, CodeDeploy uses the current network Amazon ECS settings" (AppSpec 'resources'
/// section for Amazon ECS deployments).
fn check_network(at: &str, value: &Value) -> Result<(), String> {
    let at = format!("{at}.Properties.NetworkConfiguration");
    let network = value.as_object().ok_or(format!("{at}: must be an object"))?;
    if let Some(key) = network.keys().find(|key| *key != "AwsvpcConfiguration") {
        return Err(format!("{at}.{key}: not a field (AwsvpcConfiguration)"));
    }
    let Some(awsvpc) = network.get("AwsvpcConfiguration") else {
        return Ok(());
    };
    let awsvpc = awsvpc
        .as_object()
        .ok_or(format!("{at}.AwsvpcConfiguration: must be an object"))?;
    const FIELDS: [&str; 3] = ["Subnets", "SecurityGroups", "AssignPublicIp"];
    if let Some(key) = awsvpc.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(format!(
            "{at}.AwsvpcConfiguration.{key}: not a field ({})",
            FIELDS.join(", ")
        ));
    }
    let missing: Vec<&str> = FIELDS
        .into_iter()
        .filter(|field| !awsvpc.contains_key(*field))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{at}.AwsvpcConfiguration: CodeDeploy takes all of {} or none (then the service's own network \
             settings are used); missing {}",
            FIELDS.join(", "),
            missing.join(", ")
        ));
    }
    for list in ["Subnets", "SecurityGroups"] {
        let ids = awsvpc[list].as_array().filter(|ids| !ids.is_empty());
        if !ids.is_some_and(|ids| ids.iter().all(|id| id.as_str().is_some_and(|id| !id.is_empty()))) {
            return Err(format!(
                "{at}.AwsvpcConfiguration.{list}: must be a list of one or more ids, got {}",
                awsvpc[list]
            ));
        }
    }
    if !matches!(awsvpc["AssignPublicIp"].as_str(), Some("ENABLED" | "DISABLED")) {
        return Err(format!(
            "{at}.AwsvpcConfiguration.AssignPublicIp: must be ENABLED or DISABLED, got {}",
            awsvpc["AssignPublicIp"]
        ));
    }
    Ok(())
}

fn check_hooks(value: &Value) -> Result<(), String> {
    let hooks = value
        .as_array()
        .ok_or("Hooks: must be a list of {\"<event>\": \"<Lambda function>\"}")?;
    for (index, hook) in hooks.iter().enumerate() {
        let entries = hook.as_object().filter(|entries| entries.len() == 1).ok_or(format!(
            "Hooks[{index}]: must be one {{\"<event>\": \"<Lambda function>\"}}"
        ))?;
        for (event, function) in entries {
            if !ECS_HOOKS.contains(&event.as_str()) {
                return Err(format!(
                    "Hooks[{index}].{event}: not a lifecycle event an ECS deployment runs hooks for ({})",
                    ECS_HOOKS.join(", ")
                ));
            }
            if function.as_str().is_none_or(str::is_empty) {
                return Err(format!("Hooks[{index}].{event}: must name a Lambda function"));
            }
        }
    }
    Ok(())
}

/// The AppSpec sent for one service: the pipe's `TaskDefinition`, the load balancer's container
/// and port unless the user's file sets them, and the file's other properties and hooks.
pub fn appspec(user: Option<&UserAppSpec>, task_definition: &str, container: Option<(&str, i32)>) -> Value {
    let mut properties = Map::new();
    properties.insert("TaskDefinition".to_owned(), json!(task_definition));
    let mut load_balancer = Map::new();
    if let Some((name, port)) = container {
        load_balancer.insert("ContainerName".to_owned(), json!(name));
        load_balancer.insert("ContainerPort".to_owned(), json!(port));
    }
    if let Some(user) = user {
        for (key, value) in &user.properties {
            if key == "LoadBalancerInfo" {
                for (field, value) in value.as_object().into_iter().flatten() {
                    load_balancer.insert(field.clone(), value.clone());
                }
            } else {
                properties.insert(key.clone(), value.clone());
            }
        }
    }
    properties.insert("LoadBalancerInfo".to_owned(), Value::Object(load_balancer));
    let mut document = json!({
        "version": "0.0",
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}],
    });
    if let Some(hooks) = user.and_then(|user| user.hooks.clone()) {
        document["Hooks"] = hooks;
    }
    document
}

/// What the AppSpec still lacks for CodeDeploy to accept it: the container and port its load
/// balancer sends traffic to.
pub fn missing_container(appspec: &Value) -> Option<&'static str> {
    let resources = appspec["Resources"].as_array()?;
    let info = resources.first()?.as_object()?.values().next()?["Properties"]["LoadBalancerInfo"].clone();
    if info["ContainerName"].as_str().is_none() {
        return Some("ContainerName");
    }
    if info["ContainerPort"].as_u64().is_none() {
        return Some("ContainerPort");
    }
    None
}

/// The AppSpec as CodeDeploy's `appSpecContent` takes it: the content and its SHA-256 in hex.
pub fn content(appspec: &Value) -> (String, String) {
    let text = appspec.to_string();
    let digest = Sha256::digest(text.as_bytes());
    let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    (text, hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_names_are_the_defaults() {
        assert_eq!(
            default_names("arn:aws:ecs:eu-west-1:1:cluster/prod", "web"),
            ("AppECS-prod-web".to_owned(), "DgpECS-prod-web".to_owned())
        );
    }

    #[test]
    fn the_generated_appspec_takes_the_users_hooks_and_properties() {
        let file = json!({
            "version": 0.0,
            "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": "<TASK_DEFINITION>",
                "LoadBalancerInfo": {"ContainerPort": 8080},
                "PlatformVersion": "1.4.0",
            }}}],
            "Hooks": [{"BeforeAllowTraffic": "check-web"}],
        });
        let user = read_user_appspec("appspec.json", &file).unwrap();
        let sent = appspec(Some(&user), "arn:td/web:3", Some(("web", 80)));
        assert_eq!(
            sent,
            json!({
                "version": "0.0",
                "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                    "TaskDefinition": "arn:td/web:3",
                    "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080},
                    "PlatformVersion": "1.4.0",
                }}}],
                "Hooks": [{"BeforeAllowTraffic": "check-web"}],
            })
        );
        assert_eq!(missing_container(&sent), None);
        let bare = appspec(None, "arn:td/web:3", None);
        assert_eq!(missing_container(&bare), Some("ContainerName"));
        let (text, sha) = content(&bare);
        assert!(text.contains("\"TargetService\""));
        assert_eq!(sha.len(), 64);
    }

    #[test]
    fn a_whole_network_configuration_is_sent_as_written() {
        let network = json!({"AwsvpcConfiguration": {
            "Subnets": ["subnet-1", "subnet-2"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED",
        }});
        let file = json!({"Resources": [{"TargetService": {"Properties": {"NetworkConfiguration": network}}}]});
        let user = read_user_appspec("appspec.json", &file).unwrap();
        let sent = appspec(Some(&user), "arn:td/web:3", Some(("web", 80)));
        assert_eq!(
            sent["Resources"][0]["TargetService"]["Properties"]["NetworkConfiguration"],
            network
        );
    }

    #[test]
    fn conflicts_and_unknown_fields_name_the_field() {
        let cases = [
            (
                json!({"Resources": [{"TargetService": {"Properties": {"TaskDefinition": "web:1"}}}]}),
                "TaskDefinition",
            ),
            (
                json!({"Resources": [{"TargetService": {"Type": "AWS::Lambda::Function"}}]}),
                "Type",
            ),
            (json!({"Resources": [{"a": {}}, {"b": {}}]}), "exactly one"),
            (json!({"Hooks": [{"Install": "f"}]}), "Hooks[0].Install"),
            (
                json!({"Resources": [{"api": {"Type": "AWS::ECS::Service"}}]}),
                "TargetService",
            ),
            (json!({"Hooks": [{"AfterInstall": ""}]}), "Lambda function"),
            (json!({"version": "1.0"}), "version"),
            (json!({"Permissions": []}), "Permissions"),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"Role": "x"}}}]}),
                "Properties.Role",
            ),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"LoadBalancerInfo": {"ContainerPort": 0}}}}]}),
                "ContainerPort",
            ),
            (json!([]), "AppSpec object"),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"NetworkConfiguration":
                    {"AwsvpcConfiguration": {"Subnets": ["subnet-1"]}}}}}]}),
                "missing SecurityGroups, AssignPublicIp",
            ),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"NetworkConfiguration":
                    {"AwsvpcConfiguration": {"Subnets": [], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}}}}}]}),
                "Subnets: must be a list",
            ),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"NetworkConfiguration":
                    {"AwsvpcConfiguration": {"Subnets": ["s"], "SecurityGroups": ["g"], "AssignPublicIp": "yes"}}}}}]}),
                "AssignPublicIp: must be ENABLED or DISABLED",
            ),
            (
                json!({"Resources": [{"TargetService": {"Properties": {"NetworkConfiguration":
                    {"awsvpcConfiguration": {}}}}}]}),
                "NetworkConfiguration.awsvpcConfiguration: not a field",
            ),
        ];
        for (document, field) in cases {
            let problem = read_user_appspec("a.json", &document).unwrap_err();
            assert!(problem.contains(field), "{problem} should name {field}");
        }
    }
}
