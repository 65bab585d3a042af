//! The bottom layer: plain types and pure rules of the pipe's world. Role ARNs and partitions,
//! STS limits and session naming, the step's token claims, the auth plan, task-definition
//! documents, Lambda package limits, and the settings of each action.
//!
//! Nothing here reads the environment or calls AWS, and nothing here imports another module of
//! the crate (a test keeps it so), so every layer above can use it and none can be pulled in.

pub mod answers;
pub mod arn;
pub mod auth_plan;
pub mod codedeploy;
pub mod context;
pub mod ecr;
pub mod ecs;
pub mod insights;
pub mod lambda;
pub mod lambda_configuration;
pub mod lambda_image;
pub mod network;
pub mod onboarding;
pub mod rollback;
pub mod scan;
pub mod secret;
pub mod sts;
pub mod task_definition;
pub mod time;
pub mod token;
pub mod traffic_shift;
