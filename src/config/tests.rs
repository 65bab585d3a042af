//! `Config::from_env` as a whole: each variable's problems, and what a valid environment gives.

use std::collections::BTreeMap;

use super::reader::parse_bool;
use super::*;
use crate::domain::auth_plan::CredentialSource;
use crate::domain::lambda::LambdaSettings;
use crate::domain::traffic_shift::TrafficShift;
use crate::error::Problem;

const ROLE: &str = "arn:aws:iam::111111111111:role/deploy";
const OTHER_ROLE: &str = "arn:aws:iam::222222222222:role/target";

fn token() -> String {
    crate::domain::token::tests::encode(&serde_json::json!({
        "iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
        "aud": "ari:cloud:bitbucket::workspace/abc",
        "sub": "{repo}:{step}",
        "exp": 4_000_000_000u64
    }))
}

fn base() -> Vec<(String, String)> {
    [
        ("ACTION", "assume-role".to_owned()),
        ("AWS_DEFAULT_REGION", "eu-west-1".to_owned()),
        ("AWS_OIDC_ROLE_ARN", ROLE.to_owned()),
        ("BITBUCKET_STEP_OIDC_TOKEN", token()),
        ("BITBUCKET_REPO_SLUG", "web-app".to_owned()),
        ("BITBUCKET_BUILD_NUMBER", "42".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn with(changes: &[(&str, Option<&str>)]) -> Env {
    let mut vars: BTreeMap<String, String> = base().into_iter().collect();
    for (name, value) in changes {
        match value {
            Some(value) => vars.insert(name.to_string(), value.to_string()),
            None => vars.remove(*name),
        };
    }
    Env::from_pairs(vars)
}

fn problems(changes: &[(&str, Option<&str>)]) -> Vec<Problem> {
    match Config::from_env(&with(changes)) {
        Err(Error::Validation(problems)) => problems,
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => Vec::new(),
    }
}

fn assert_problem(changes: &[(&str, Option<&str>)], variable: &str, fragment: &str) {
    let found = problems(changes);
    assert!(
        found
            .iter()
            .any(|p| p.variable == variable && p.message.contains(fragment)),
        "expected {variable}: ...{fragment}... for {changes:?}, got {found:#?}"
    );
}

#[test]
fn minimal_oidc_configuration() {
    let config = Config::from_env(&with(&[])).unwrap();
    assert!(matches!(config.action, Action::AssumeRole));
    assert_eq!(config.region, "eu-west-1");
    assert_eq!(config.auth.session_name, "bitbucket-web-app-42");
    assert_eq!(config.auth.duration, Duration::from_secs(3600));
    assert!(!config.auth.duration_explicit);
    assert!(matches!(config.auth.source, CredentialSource::WebIdentity { .. }));
    assert!(config.auth.chained.is_none());
    assert!(
        config.auth.session_tags.is_empty(),
        "tags go on the AssumeRole hop only"
    );
    assert_eq!(config.network.max_attempts, 5);
    assert!(config.wait && !config.dry_run && !config.debug);
    assert!(config.warnings.is_empty());
}

#[test]
fn each_invalid_variable_is_reported() {
    let cases: &[(&[(&str, Option<&str>)], &str, &str)] = &[
        (&[("ACTION", None)], "ACTION", "is required"),
        (&[("ACTION", Some("deploy"))], "ACTION", "must be one of"),
        (
            &[("ACTION", Some("ecr-push"))],
            "IMAGE_NAME",
            "exactly one image source",
        ),
        (&[("AWS_DEFAULT_REGION", None)], "AWS_DEFAULT_REGION", "is required"),
        (
            &[("AWS_DEFAULT_REGION", Some("Europe"))],
            "AWS_DEFAULT_REGION",
            "\"Europe\"",
        ),
        (
            &[("AWS_DEFAULT_REGION", None), ("AWS_REGION", Some("eu_west_1"))],
            "AWS_REGION",
            "must be an AWS region",
        ),
        (
            &[("AWS_OIDC_ROLE_ARN", Some("deploy-role"))],
            "AWS_OIDC_ROLE_ARN",
            "must be an IAM role ARN",
        ),
        (
            &[("AWS_OIDC_ROLE_ARN", Some("arn:aws:iam::1234:role/x"))],
            "AWS_OIDC_ROLE_ARN",
            "12 digits",
        ),
        (
            &[("AWS_OIDC_ROLE_ARN", Some("arn:aws:iam::111111111111:user/x"))],
            "AWS_OIDC_ROLE_ARN",
            "IAM role ARN",
        ),
        (
            &[("AWS_OIDC_ROLE_ARN", Some("arn:aws-xx:iam::111111111111:role/x"))],
            "AWS_OIDC_ROLE_ARN",
            "partition",
        ),
        (
            &[("AWS_DEFAULT_REGION", Some("cn-north-1"))],
            "AWS_OIDC_ROLE_ARN",
            "partition \"aws-cn\"",
        ),
        (
            &[("AWS_ROLE_ARN", Some("nope"))],
            "AWS_ROLE_ARN",
            "must be an IAM role ARN",
        ),
        (
            &[("AWS_EXTERNAL_ID", Some("abc"))],
            "AWS_EXTERNAL_ID",
            "only used to assume AWS_ROLE_ARN",
        ),
        (
            &[("AWS_ROLE_ARN", Some(OTHER_ROLE)), ("AWS_EXTERNAL_ID", Some("bad id!"))],
            "AWS_EXTERNAL_ID",
            "2-1224",
        ),
        (
            &[("AWS_ROLE_SESSION_NAME", Some("!"))],
            "AWS_ROLE_SESSION_NAME",
            "at least 2",
        ),
        (
            &[("AWS_ROLE_DURATION_SECONDS", Some("60"))],
            "AWS_ROLE_DURATION_SECONDS",
            "from 900 to 43200",
        ),
        (
            &[("AWS_ROLE_DURATION_SECONDS", Some("1h"))],
            "AWS_ROLE_DURATION_SECONDS",
            "\"1h\"",
        ),
        (
            &[
                ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
                ("AWS_ROLE_DURATION_SECONDS", Some("7200")),
            ],
            "AWS_ROLE_DURATION_SECONDS",
            "3600 seconds",
        ),
        (
            &[("AWS_SESSION_TAGS", Some("maybe"))],
            "AWS_SESSION_TAGS",
            "true or false",
        ),
        (
            &[("ALLOWED_ACCOUNT_IDS", Some("111111111111 12345"))],
            "ALLOWED_ACCOUNT_IDS",
            "\"12345\"",
        ),
        (&[("AWS_MAX_ATTEMPTS", Some("0"))], "AWS_MAX_ATTEMPTS", "from 1 to 10"),
        (
            &[("AWS_ATTEMPT_TIMEOUT", Some("-1"))],
            "AWS_ATTEMPT_TIMEOUT",
            "from 1 to 600",
        ),
        (
            &[("AWS_ENDPOINT_URL", Some("localhost:5000"))],
            "AWS_ENDPOINT_URL",
            "http://",
        ),
        (
            &[("AWS_ENDPOINT_URL_STS", Some("ftp://x"))],
            "AWS_ENDPOINT_URL_STS",
            "http://",
        ),
        (&[("HTTPS_PROXY", Some("proxy:3128"))], "HTTPS_PROXY", "http://"),
        (
            &[("SSL_CERT_FILE", Some("/no/such/file.pem"))],
            "SSL_CERT_FILE",
            "not a readable file",
        ),
        (
            &[("SSL_CERT_FILE", Some("../../etc/passwd"))],
            "SSL_CERT_FILE",
            "outside the clone directory",
        ),
        (&[("WAIT", Some("y"))], "WAIT", "true or false"),
        (&[("WAIT_TIMEOUT", Some("0"))], "WAIT_TIMEOUT", "from 1 to 86400"),
        (&[("DRY_RUN", Some("nah"))], "DRY_RUN", "true or false"),
        (&[("DEBUG", Some("verbose"))], "DEBUG", "true or false"),
        (
            &[("BITBUCKET_STEP_OIDC_TOKEN", None)],
            "AWS_OIDC_ROLE_ARN",
            "add `oidc: true`",
        ),
        (
            &[("BITBUCKET_STEP_OIDC_TOKEN", Some("not-a-jwt"))],
            "BITBUCKET_STEP_OIDC_TOKEN",
            "JSON Web Token",
        ),
        (&[("AWS_OIDC_ROLE_ARN", None)], "AWS_OIDC_ROLE_ARN", "is required"),
        (
            &[
                ("AWS_OIDC_ROLE_ARN", None),
                ("BITBUCKET_STEP_OIDC_TOKEN", None),
                ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
            ],
            "AWS_OIDC_ROLE_ARN",
            "to assume AWS_ROLE_ARN",
        ),
        (
            &[
                ("AWS_OIDC_ROLE_ARN", None),
                ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
            ],
            "AWS_SECRET_ACCESS_KEY",
            "is required",
        ),
        (
            &[
                ("AWS_OIDC_ROLE_ARN", None),
                ("AWS_SECRET_ACCESS_KEY", Some("abcdefghijklmnop")),
            ],
            "AWS_ACCESS_KEY_ID",
            "is required",
        ),
        (
            &[
                ("AWS_OIDC_ROLE_ARN", None),
                ("AWS_ACCESS_KEY_ID", Some("AK")),
                ("AWS_SECRET_ACCESS_KEY", Some("x")),
            ],
            "AWS_ACCESS_KEY_ID",
            "16-128",
        ),
        (
            &[
                ("ALLOWED_ACCOUNT_IDS_COUNT", Some("2")),
                ("ALLOWED_ACCOUNT_IDS_0", Some("111111111111")),
            ],
            "ALLOWED_ACCOUNT_IDS_1",
            "is missing",
        ),
    ];
    for (changes, variable, fragment) in cases {
        assert_problem(changes, variable, fragment);
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let found = problems(&[
        ("ACTION", Some("deploy")),
        ("AWS_DEFAULT_REGION", Some("moon")),
        ("AWS_ROLE_DURATION_SECONDS", Some("1")),
        ("DEBUG", Some("loud")),
    ]);
    let variables: Vec<&str> = found.iter().map(|p| p.variable.as_str()).collect();
    for expected in ["ACTION", "AWS_DEFAULT_REGION", "AWS_ROLE_DURATION_SECONDS", "DEBUG"] {
        assert!(variables.contains(&expected), "{expected} missing from {variables:?}");
    }
}

#[test]
fn secret_values_are_never_quoted_back() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz";
    let found = problems(&[
        ("AWS_OIDC_ROLE_ARN", None),
        ("AWS_ACCESS_KEY_ID", Some("AK")),
        ("AWS_SECRET_ACCESS_KEY", Some(secret)),
        ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
        ("AWS_EXTERNAL_ID", Some("has spaces which are not allowed")),
    ]);
    assert!(!found.is_empty());
    let text = format!("{found:?}");
    assert!(!text.contains(secret) && !text.contains("has spaces"), "{text}");
}

#[test]
fn booleans_accept_common_spellings() {
    for (value, expected) in [
        ("TRUE", true),
        ("yes", true),
        ("1", true),
        ("False", false),
        ("NO", false),
        ("0", false),
    ] {
        assert_eq!(parse_bool(value), Some(expected), "{value}");
    }
    assert_eq!(parse_bool("on"), None);
}

#[test]
fn lists_in_both_forms() {
    let spaced = Config::from_env(&with(&[("ALLOWED_ACCOUNT_IDS", Some(" 111111111111  222222222222 "))])).unwrap();
    assert_eq!(spaced.auth.allowed_account_ids, ["111111111111", "222222222222"]);
    let yaml = Config::from_env(&with(&[
        ("ALLOWED_ACCOUNT_IDS_COUNT", Some("2")),
        ("ALLOWED_ACCOUNT_IDS_0", Some("333333333333")),
        ("ALLOWED_ACCOUNT_IDS_1", Some("444444444444")),
    ]))
    .unwrap();
    assert_eq!(yaml.auth.allowed_account_ids, ["333333333333", "444444444444"]);
}

#[test]
fn every_partition_is_accepted() {
    for (arn, region) in [
        ("arn:aws-cn:iam::111111111111:role/deploy", "cn-north-1"),
        ("arn:aws-us-gov:iam::111111111111:role/path/deploy", "us-gov-west-1"),
        ("arn:aws-eusc:iam::111111111111:role/deploy", "eusc-de-east-1"),
        (
            "arn:aws:iam::111111111111:role/service-role/a.b@c=d,e+f_g-h",
            "ap-southeast-2",
        ),
    ] {
        let config = Config::from_env(&with(&[
            ("AWS_OIDC_ROLE_ARN", Some(arn)),
            ("AWS_DEFAULT_REGION", Some(region)),
        ]));
        assert!(config.is_ok(), "{arn} in {region}: {config:?}");
    }
}

#[test]
fn the_european_sovereign_cloud_has_its_own_partition() {
    let config = Config::from_env(&with(&[
        ("AWS_OIDC_ROLE_ARN", Some("arn:aws-eusc:iam::111111111111:role/deploy")),
        ("AWS_DEFAULT_REGION", Some("eusc-de-east-1")),
    ]))
    .unwrap();
    assert_eq!(
        config.run_context(Instant::now(), Cancellation::new()).partition,
        "aws-eusc"
    );
    // A commercial role cannot be assumed from the sovereign partition's STS.
    let refused = problems(&[("AWS_DEFAULT_REGION", Some("eusc-de-east-1"))]);
    assert!(refused[0].message.contains("\"aws-eusc\""), "{refused:?}");
}

#[test]
fn fips_and_dual_stack_cannot_be_combined_with_a_custom_endpoint() {
    for flag in ["AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"] {
        for endpoint in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL_ECR",
            "AWS_ENDPOINT_URL_CLOUDWATCH",
        ] {
            let refused = problems(&[(flag, Some("true")), (endpoint, Some("https://vpce.example"))]);
            assert_eq!(refused.len(), 1, "{refused:?}");
            assert_eq!(refused[0].variable, flag);
            assert!(refused[0].message.contains(endpoint), "{refused:?}");
        }
        let config = Config::from_env(&with(&[
            (flag, Some("true")),
            ("AWS_DEFAULT_REGION", Some("us-east-1")),
        ]))
        .unwrap();
        assert!(config.network.use_fips || config.network.use_dual_stack);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}

#[test]
fn fips_in_canada_warns_that_ecr_has_none() {
    let config = Config::from_env(&with(&[
        ("AWS_USE_FIPS_ENDPOINT", Some("true")),
        ("AWS_DEFAULT_REGION", Some("ca-central-1")),
    ]))
    .unwrap();
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].contains("ECR has no FIPS endpoint in ca-central-1"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn fips_outside_us_canada_and_govcloud_is_warned_about() {
    let config = Config::from_env(&with(&[("AWS_USE_FIPS_ENDPOINT", Some("true"))])).unwrap();
    assert!(config.network.use_fips);
    assert!(
        config.warnings[0].contains("FIPS endpoints only in US and Canada"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn oidc_wins_over_keys_with_a_warning() {
    let config = Config::from_env(&with(&[
        ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
        ("AWS_SECRET_ACCESS_KEY", Some("secretsecretsecret")),
    ]))
    .unwrap();
    assert!(matches!(config.auth.source, CredentialSource::WebIdentity { .. }));
    assert!(config.warnings[0].contains("are ignored"), "{:?}", config.warnings);
}

#[test]
fn keys_work_with_a_warning_and_may_chain_beyond_an_hour() {
    let config = Config::from_env(&with(&[
        ("AWS_OIDC_ROLE_ARN", None),
        ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
        ("AWS_SECRET_ACCESS_KEY", Some("secretsecretsecret")),
        ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
        ("AWS_ROLE_DURATION_SECONDS", Some("7200")),
        ("BITBUCKET_REPO_FULL_NAME", Some("acme/web-app")),
    ]))
    .unwrap();
    assert!(matches!(config.auth.source, CredentialSource::AccessKeys { .. }));
    assert!(!config.auth.is_role_chaining());
    assert_eq!(config.auth.duration, Duration::from_secs(7200));
    assert!(config.auth.duration_explicit);
    assert!(config.warnings[0].contains("long-lived access keys"));
    assert_eq!(
        config.auth.session_tags[0],
        ("Repository".to_owned(), "acme/web-app".to_owned())
    );
}

#[test]
fn session_tags_can_be_turned_off() {
    let config = Config::from_env(&with(&[
        ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
        ("AWS_SESSION_TAGS", Some("false")),
        ("BITBUCKET_REPO_FULL_NAME", Some("acme/web-app")),
    ]))
    .unwrap();
    assert!(config.auth.is_role_chaining());
    assert!(config.auth.session_tags.is_empty());
}

#[test]
fn aws_default_region_wins_over_aws_region() {
    let config = Config::from_env(&with(&[("AWS_REGION", Some("us-east-2"))])).unwrap();
    assert_eq!(config.region, "eu-west-1");
    let config = Config::from_env(&with(&[
        ("AWS_DEFAULT_REGION", None),
        ("AWS_REGION", Some("us-east-2")),
    ]))
    .unwrap();
    assert_eq!(config.region, "us-east-2");
}

const LAMBDA: &[(&str, Option<&str>)] = &[
    ("ACTION", Some("lambda-deploy")),
    ("FUNCTION_NAME", Some("api")),
    ("S3_BUCKET", Some("artifacts")),
    ("S3_KEY", Some("api.zip")),
    ("ALIAS", Some("live")),
];

fn lambda_with<'a>(changes: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, Option<&'a str>)> {
    LAMBDA.iter().chain(changes).copied().collect()
}

fn lambda_settings(changes: &[(&str, Option<&str>)]) -> LambdaSettings {
    match Config::from_env(&with(&lambda_with(changes))).unwrap().action {
        Action::LambdaDeploy(settings) => *settings,
        _ => unreachable!(),
    }
}

#[test]
fn traffic_shift_defaults_to_all_at_once() {
    let settings = lambda_settings(&[]);
    assert_eq!(settings.traffic_shift, TrafficShift::AllAtOnce);
    assert_eq!(settings.shift_time_scale, 1);
    let settings = lambda_settings(&[("TRAFFIC_SHIFT", Some("Canary10Percent5Minutes"))]);
    assert_eq!(settings.traffic_shift.steps().len(), 1);
}

#[test]
fn traffic_shift_problems() {
    let cases: &[(&[(&str, Option<&str>)], &str, &str)] = &[
        (
            &[("TRAFFIC_SHIFT", Some("Blue"))],
            "TRAFFIC_SHIFT",
            "is not a traffic shift",
        ),
        (
            &[("TRAFFIC_SHIFT", Some("canary:0%:5m"))],
            "TRAFFIC_SHIFT",
            "from 1% to 99%",
        ),
        (
            &[("TRAFFIC_SHIFT", Some("linear:100%:5m"))],
            "TRAFFIC_SHIFT",
            "from 1% to 99%",
        ),
        (
            &[("TRAFFIC_SHIFT", Some("canary:10%:0s"))],
            "TRAFFIC_SHIFT",
            "more than zero",
        ),
        (
            &[("TRAFFIC_SHIFT", Some("canary:10%:5m")), ("ALIAS", None)],
            "TRAFFIC_SHIFT",
            "needs ALIAS",
        ),
        (
            &[("TRAFFIC_SHIFT", Some("Canary10Percent30Minutes"))],
            "WAIT_TIMEOUT",
            "holds traffic split for 30 min alone",
        ),
        (
            &[
                ("TRAFFIC_SHIFT", Some("Linear10PercentEvery2Minutes")),
                ("WAIT_TIMEOUT", Some("1100")),
            ],
            "WAIT_TIMEOUT",
            "at least 1200",
        ),
        (
            &[("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", Some("600"))],
            "AWS_ROLE_DEPLOY_TEST_TIME_SCALE",
            "loopback",
        ),
        (
            &[
                ("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", Some("600")),
                ("AWS_ENDPOINT_URL_LAMBDA", Some("https://lambda.example.com")),
                ("AWS_ENDPOINT_URL", Some("http://127.0.0.1:5000")),
            ],
            "AWS_ROLE_DEPLOY_TEST_TIME_SCALE",
            "loopback",
        ),
        (
            &[
                ("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", Some("0")),
                ("AWS_ENDPOINT_URL", Some("http://127.0.0.1:5000")),
            ],
            "AWS_ROLE_DEPLOY_TEST_TIME_SCALE",
            "whole number",
        ),
    ];
    for (changes, variable, fragment) in cases {
        assert_problem(&lambda_with(changes), variable, fragment);
    }
}

#[test]
fn traffic_shift_with_version_shifts_to_that_version() {
    let settings = lambda_settings(&[
        ("TRAFFIC_SHIFT", Some("canary:10%:5m")),
        ("VERSION", Some("3")),
        ("S3_BUCKET", None),
        ("S3_KEY", None),
    ]);
    assert_eq!(settings.version.as_deref(), Some("3"));
    assert!(settings.traffic_shift.is_gradual());
}

#[test]
fn test_time_scale_only_against_a_loopback_endpoint() {
    let settings = lambda_settings(&[
        ("TRAFFIC_SHIFT", Some("Canary10Percent30Minutes")),
        ("AWS_ENDPOINT_URL", Some("http://127.0.0.1:5000")),
        ("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", Some("600")),
    ]);
    assert_eq!(settings.shift_time_scale, 600);
    assert_eq!(settings.traffic_shift.duration() / 600, Duration::from_secs(3));
}

#[test]
fn ecr_push_reads_the_test_time_scale_only_against_a_loopback_ecr_endpoint() {
    let push = [
        ("ACTION", Some("ecr-push")),
        ("IMAGE_ARCHIVE", Some(".")),
        ("ECR_REPOSITORY", Some("team/web")),
        ("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", Some("10")),
    ];
    let local = [&push[..], &[("AWS_ENDPOINT_URL", Some("http://127.0.0.1:5000"))]].concat();
    assert_eq!(Config::from_env(&with(&local)).unwrap().test_time_scale, 10);
    let remote_ecr = [&local[..], &[("AWS_ENDPOINT_URL_ECR", Some("https://ecr.example.com"))]].concat();
    assert_problem(&remote_ecr, "AWS_ROLE_DEPLOY_TEST_TIME_SCALE", "loopback");
    assert_problem(&push, "AWS_ROLE_DEPLOY_TEST_TIME_SCALE", "loopback");
}
