//! The settings of `ACTION=ecs-deploy`, as `config` reads them from the variables.

use std::path::PathBuf;

use serde_json::Value;

use crate::domain::codedeploy::CodeDeploySettings;
use crate::domain::task_definition::Dropped;

#[derive(Debug, Clone)]
pub struct EcsSettings {
    pub cluster: String,
    /// Empty: register only (with a file).
    pub services: Vec<String>,
    pub task_definition: TaskDefinitionSource,
    pub images: Vec<ImageChange>,
    pub container_name: Option<String>,
    pub force_new_deployment: bool,
    pub desired_count: Option<i32>,
    pub run_task: Option<RunTask>,
    /// What to do with a deployment still running when `WAIT_TIMEOUT` passes (`ON_TIMEOUT`).
    pub on_timeout: WhenUnfinished,
    /// What to do with a deployment that failed without ECS rolling it back (`ON_FAILURE`).
    pub on_failure: WhenUnfinished,
    /// `KEEP_REVISIONS`: after success, deregister the ACTIVE revisions of each deployed family
    /// beyond the newest N that no deployment in the cluster uses. None: keep all.
    pub keep_revisions: Option<u16>,
    /// Where services on the CODE_DEPLOY controller are deployed, and what their AppSpec adds.
    pub codedeploy: CodeDeploySettings,
}

/// A deployment the pipe gives up on is left to ECS, or rolled back on request
/// (`StopServiceDeployment` with `ROLLBACK`). The step fails either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnfinished {
    Fail,
    Rollback,
}

impl WhenUnfinished {
    pub fn parse(value: &str) -> Option<WhenUnfinished> {
        match value.to_ascii_lowercase().as_str() {
            "fail" => Some(WhenUnfinished::Fail),
            "rollback" => Some(WhenUnfinished::Rollback),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum TaskDefinitionSource {
    /// A file, already filled and shaped as the RegisterTaskDefinition body.
    File {
        path: PathBuf,
        body: Value,
        dropped: Dropped,
    },
    /// `family:revision` or an ARN, deployed as it is.
    Existing(String),
    /// The services' current task definition, with only the images changed.
    Current,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    /// None: the only container of the task definition.
    pub container: Option<String>,
    pub image: String,
}

#[derive(Debug, Clone)]
pub struct RunTask {
    /// None: the container's own command.
    pub command: Option<Vec<String>>,
}
