//! The CodeDeploy operations of an ECS blue/green deployment, sent as AWS JSON 1.1
//! (`X-Amz-Target: CodeDeploy_20141006.<Operation>`, signing name `codedeploy`) through the
//! hand-signed `json_rpc` client instead of `aws-sdk-codedeploy`, whose generated client would
//! grow an image that must stay under 5 MB compressed, for six operations.
//!
//! Answers are kept as JSON documents: the action reads the few fields it shows.
//! API reference: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_Operations.html

use serde_json::{Value, json};

use super::AwsFailure;
use super::json_rpc::{JsonClient, Protocol};

pub(super) const PROTOCOL: Protocol = Protocol {
    signing_name: "codedeploy",
    target_prefix: "CodeDeploy_20141006",
    json_version: "1.1",
};

/// At most this many targets per BatchGetDeploymentTargets (AWS's limit is 25).
const TARGETS_PER_BATCH: usize = 25;

/// A CodeDeploy client.
#[derive(Clone, Debug)]
pub struct CodeDeploy(pub(super) JsonClient);

impl CodeDeploy {
    /// `deploymentGroupInfo` of the group.
    pub async fn get_deployment_group(&self, application: &str, group: &str) -> Result<Value, AwsFailure> {
        let body = json!({"applicationName": application, "deploymentGroupName": group});
        let answer = self.0.call("codedeploy:GetDeploymentGroup", &body).await?;
        Ok(answer["deploymentGroupInfo"].clone())
    }

    /// A deployment of `appspec` (the AppSpec as a JSON string, with its SHA-256 in hex) into
    /// the group; the deployment id.
    pub async fn create_deployment(
        &self,
        application: &str,
        group: &str,
        appspec: &str,
        sha256: &str,
        description: &str,
    ) -> Result<String, AwsFailure> {
        let body = json!({
            "applicationName": application,
            "deploymentGroupName": group,
            "description": description,
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": appspec, "sha256": sha256},
            },
        });
        let answer = self.0.call("codedeploy:CreateDeployment", &body).await?;
        answer["deploymentId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AwsFailure::local("codedeploy:CreateDeployment", "the answer has no deploymentId"))
    }

    /// `deploymentInfo` of the deployment.
    pub async fn get_deployment(&self, id: &str) -> Result<Value, AwsFailure> {
        let answer = self
            .0
            .call("codedeploy:GetDeployment", &json!({"deploymentId": id}))
            .await?;
        match &answer["deploymentInfo"] {
            info @ Value::Object(_) => Ok(info.clone()),
            _ => Err(AwsFailure::local(
                "codedeploy:GetDeployment",
                "the answer has no deploymentInfo",
            )),
        }
    }

    /// The deployment's targets (for ECS: one, `<cluster>:<service>`), every page.
    pub async fn targets(&self, id: &str) -> Result<Vec<Value>, AwsFailure> {
        let mut ids: Vec<String> = Vec::new();
        let mut next: Option<String> = None;
        // A bound on pages: an ECS deployment has one target.
        for _ in 0..20 {
            let mut body = json!({"deploymentId": id});
            if let Some(token) = &next {
                body["nextToken"] = json!(token);
            }
            let page = self.0.call("codedeploy:ListDeploymentTargets", &body).await?;
            ids.extend(
                page["targetIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
            next = page["nextToken"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        self.read_targets(id, &ids).await
    }

    /// The named targets of the deployment (their ids do not change once it started: a follower
    /// lists them once, then reads them in one call a look).
    pub async fn read_targets(&self, id: &str, ids: &[String]) -> Result<Vec<Value>, AwsFailure> {
        let mut targets = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(TARGETS_PER_BATCH) {
            let body = json!({"deploymentId": id, "targetIds": chunk});
            let answer = self.0.call("codedeploy:BatchGetDeploymentTargets", &body).await?;
            targets.extend(answer["deploymentTargets"].as_array().cloned().unwrap_or_default());
        }
        Ok(targets)
    }

    /// Stop the deployment; with `rollback`, CodeDeploy puts the original task set back. The
    /// answer's `status` (`Pending`, `Succeeded`) and `statusMessage`.
    pub async fn stop_deployment(&self, id: &str, rollback: bool) -> Result<Value, AwsFailure> {
        let body = json!({"deploymentId": id, "autoRollbackEnabled": rollback});
        self.0.call("codedeploy:StopDeployment", &body).await
    }
}
