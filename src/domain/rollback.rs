//! The settings of `ACTION=rollback`, as `config` reads them from the variables: an ECS
//! rollback is an ecs-deploy of a revision that already exists (chosen by the pipe, or named by
//! `TASK_DEFINITION`), so it carries the ecs-deploy settings that apply to it. A Lambda rollback
//! moves an alias to a version published before.

use super::ecs::EcsSettings;
use super::lambda::LambdaSettings;
use super::traffic_shift::TrafficShift;

// One value per run, moved a few times: boxing the ECS variant would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum RollbackSettings {
    /// `CLUSTER_NAME` with `SERVICE_NAME`. `task_definition` is `Existing` when
    /// `TASK_DEFINITION` names the target, `Current` when each service's previous revision is
    /// looked up; nothing is registered either way.
    Ecs(EcsSettings),
    /// `FUNCTION_NAME` with `ALIAS`.
    Lambda(LambdaRollback),
}

/// The alias goes back to `version`, or (None) to the newest published version lower than the
/// one it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaRollback {
    pub function: String,
    pub alias: String,
    pub version: Option<String>,
    /// `ALIAS_CLEAR_WEIGHTS`, as for lambda-deploy.
    pub clear_alias_weights: bool,
    /// `KEEP_VERSIONS`, as for lambda-deploy: old versions deleted after success.
    pub keep_versions: Option<u16>,
}

impl LambdaRollback {
    /// The lambda-deploy settings that move the alias to `version` and change nothing else
    /// (`VERSION` with `ALIAS`: no code, no configuration, nothing published).
    pub fn alias_move(&self, version: Option<String>) -> LambdaSettings {
        LambdaSettings {
            function: self.function.clone(),
            code: None,
            configuration: None,
            configuration_notes: Vec::new(),
            publish: false,
            version_description: String::new(),
            alias: Some(self.alias.clone()),
            clear_alias_weights: self.clear_alias_weights,
            // A rollback moves the alias at once.
            traffic_shift: TrafficShift::AllAtOnce,
            alarms: Vec::new(),
            shift_time_scale: 1,
            version,
            keep_versions: self.keep_versions,
        }
    }
}
