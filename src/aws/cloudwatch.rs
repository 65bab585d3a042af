//! CloudWatch's DescribeAlarms, the one CloudWatch call the pipe makes (`ALARMS`), sent as AWS
//! JSON 1.0 (CloudWatch speaks it besides query and CBOR: `X-Amz-Target:
//! GraniteServiceVersion20100801.DescribeAlarms`) through the hand-signed `json_rpc` client
//! instead of `aws-sdk-cloudwatch`: the SDK crate would add a whole generated client to a binary
//! that must stay small, for one read.

use serde_json::{Value, json};

use super::AwsFailure;
use super::json_rpc::{JsonClient, Protocol};

pub(super) const PROTOCOL: Protocol = Protocol {
    signing_name: "monitoring",
    target_prefix: "GraniteServiceVersion20100801",
    json_version: "1.0",
};

/// One alarm as DescribeAlarms reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
}

/// A CloudWatch client for DescribeAlarms.
#[derive(Clone, Debug)]
pub struct CloudWatch(pub(super) JsonClient);

impl CloudWatch {
    /// The metric and composite alarms of `names` (at most 100), in CloudWatch's order; a name
    /// CloudWatch does not know is simply absent.
    pub async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, AwsFailure> {
        let body = json!({
            "AlarmNames": names,
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": 100,
        });
        let document = self.0.call("cloudwatch:DescribeAlarms", &body).await?;
        Ok(alarms_of(&document))
    }
}

/// `MetricAlarms` and `CompositeAlarms` of an answer.
fn alarms_of(document: &Value) -> Vec<AlarmState> {
    ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .flat_map(|kind| document[kind].as_array().cloned().unwrap_or_default())
        .map(|alarm| AlarmState {
            name: alarm["AlarmName"].as_str().unwrap_or_default().to_owned(),
            state: alarm["StateValue"].as_str().unwrap_or_default().to_owned(),
            reason: alarm["StateReason"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let document = json!({
            "MetricAlarms": [{"AlarmName": "errors", "StateValue": "ALARM", "StateReason": "Threshold Crossed"}],
            "CompositeAlarms": [{"AlarmName": "api-health", "StateValue": "OK", "StateReason": "fine"}],
        });
        let alarms = alarms_of(&document);
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].state, "ALARM");
        assert_eq!(alarms[1].name, "api-health");
    }
}
