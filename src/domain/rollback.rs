//! The settings of `ACTION=rollback`, as `config` reads them from the variables: an ECS
//! rollback is an ecs-deploy of a revision that already exists (chosen by the pipe, or named by
//! `TASK_DEFINITION`), so it carries the ecs-deploy settings that apply to it.

use super::ecs::EcsSettings;

#[derive(Debug, Clone)]
pub enum RollbackSettings {
    /// `CLUSTER_NAME` with `SERVICE_NAME`. `task_definition` is `Existing` when
    /// `TASK_DEFINITION` names the target, `Current` when each service's previous revision is
    /// looked up; nothing is registered either way.
    Ecs(EcsSettings),
}
