//! IAM role ARNs, accounts and partitions: what an ARN may look like, and which partition (and
//! so which console) a region belongs to.

/// An IAM role ARN, in any partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub name: String,
}

pub const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

impl RoleArn {
    pub fn parse(value: &str) -> Result<RoleArn, String> {
        let shape = || format!("must be an IAM role ARN such as arn:aws:iam::123456789012:role/deploy, got {value:?}");
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(shape());
        };
        let path_and_name = resource.strip_prefix("role/").ok_or_else(shape)?;
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok =
            (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if arn != "arn" || service != "iam" || !region.is_empty() || !name_ok {
            return Err(shape());
        }
        if !PARTITIONS.contains(&partition) {
            return Err(format!(
                "has partition {partition:?}; expected one of aws, aws-cn, aws-us-gov"
            ));
        }
        if !is_account_id(account) {
            return Err(format!("has account {account:?}; an account id is 12 digits"));
        }
        Ok(RoleArn {
            arn: value.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The partition a region belongs to, which decides ARNs and console hosts.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The AWS console's host in each partition, so links work for China and GovCloud users too.
pub fn console_host(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_hosts_follow_the_partition() {
        assert_eq!(console_host("aws"), "console.aws.amazon.com");
        assert_eq!(console_host("aws-cn"), "console.amazonaws.cn");
        assert_eq!(console_host("aws-us-gov"), "console.amazonaws-us-gov.com");
    }

    #[test]
    fn regions_belong_to_partitions() {
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
    }
}
