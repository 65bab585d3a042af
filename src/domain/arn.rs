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

/// The partitions a Bitbucket step can reach: the commercial one, China, GovCloud and the
/// European Sovereign Cloud (`aws-eusc`, regions `eusc-de-east-1`…; the partition the AWS SDKs'
/// endpoint rules name for them).
pub const PARTITIONS: [&str; 4] = ["aws", "aws-cn", "aws-us-gov", "aws-eusc"];

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
                "has partition {partition:?}; expected one of {}",
                PARTITIONS.join(", ")
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
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// The AWS console's host in each partition, so links work for China and GovCloud users too.
pub fn console_host(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        "aws-eusc" => "console.amazonaws-eusc.eu",
        _ => "console.aws.amazon.com",
    }
}

/// Whether AWS runs FIPS 140 endpoints in `region`: US and Canada regions and GovCloud
/// (https://aws.amazon.com/compliance/fips/). Elsewhere the SDK still builds a `*-fips` host
/// name, which does not exist.
pub fn offers_fips_endpoints(region: &str) -> bool {
    ["us-", "ca-"].iter().any(|prefix| region.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_hosts_follow_the_partition() {
        assert_eq!(console_host("aws"), "console.aws.amazon.com");
        assert_eq!(console_host("aws-cn"), "console.amazonaws.cn");
        assert_eq!(console_host("aws-us-gov"), "console.amazonaws-us-gov.com");
        assert_eq!(console_host("aws-eusc"), "console.amazonaws-eusc.eu");
    }

    #[test]
    fn regions_belong_to_partitions() {
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("eusc-de-east-1"), "aws-eusc");
    }

    #[test]
    fn fips_endpoints_exist_in_us_canada_and_govcloud_only() {
        for region in ["us-east-1", "us-gov-west-1", "ca-central-1", "ca-west-1"] {
            assert!(offers_fips_endpoints(region), "{region}");
        }
        for region in ["eu-west-1", "ap-south-1", "cn-north-1", "eusc-de-east-1"] {
            assert!(!offers_fips_endpoints(region), "{region}");
        }
    }
}
