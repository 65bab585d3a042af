//! Sessions outlive their credentials: each hop is renewed before it expires, once, however
//! many requests wait for it. The emulator refuses any request signed with expired
//! credentials, so a missing renewal fails these tests.

mod support;

use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_role_deploy::auth::{self, Session};
use aws_role_deploy::config::{Config, Env};
use serde_json::json;
use support::Emulator;

/// Issued credentials expire this long after they are issued, instead of hours.
const LIFETIME_SECONDS: u64 = 4;

fn config(emulator: &Emulator, role_arn: &str, token: &str, extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("ACTION", "assume-role"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_OIDC_ROLE_ARN", role_arn),
        ("BITBUCKET_STEP_OIDC_TOKEN", token),
        ("BITBUCKET_REPO_SLUG", "web-app"),
        ("BITBUCKET_BUILD_NUMBER", "7"),
        ("AWS_ENDPOINT_URL", &emulator.base_url),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    pairs.extend_from_slice(extra);
    Config::from_env(&Env::from_pairs(pairs)).expect("valid configuration")
}

async fn establish(config: &Config) -> Session {
    let deadline = std::time::Instant::now() + config.wait_timeout;
    auth::establish(
        &config.auth,
        &config.region,
        &config.network,
        config.wait_horizon(),
        deadline,
    )
    .await
    .expect("authenticated")
}

async fn sleep_past_expiry() {
    tokio::time::sleep(Duration::from_millis(LIFETIME_SECONDS * 1000 + 500)).await;
}

#[tokio::test]
async fn web_identity_session_is_renewed_across_expiry() {
    let emulator = Emulator::start();
    let (role_arn, token) = emulator.oidc_scenario();
    emulator.call(
        "POST",
        "credentials",
        Some(json!({"lifetime_seconds": LIFETIME_SECONDS})),
    );
    let config = config(&emulator, &role_arn, &token, &[]);

    let session = establish(&config).await;
    let sts = session.clients.sts();
    let provider = session.chain.clone();
    let first = provider.provide_credentials().await.unwrap();
    sleep_past_expiry().await;

    // The control: the first credentials really are refused now.
    let stale = session
        .clients
        .signed_with(SharedCredentialsProvider::new(first.clone()))
        .sts();
    let refused = stale
        .get_caller_identity()
        .send()
        .await
        .expect_err("expired credentials are refused");
    assert!(format!("{refused:?}").contains("ExpiredToken"), "{refused:?}");

    // Several requests at once after expiry: all succeed, with one renewal between them.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let sts = sts.clone();
        calls.spawn(async move { sts.get_caller_identity().send().await });
    }
    for result in calls.join_all().await {
        let identity = result.expect("renewed credentials are accepted");
        assert_eq!(
            identity.arn(),
            Some("arn:aws:sts::111111111111:assumed-role/deploy/bitbucket-web-app-7")
        );
    }
    let renewed = provider.provide_credentials().await.unwrap();
    assert_ne!(renewed.access_key_id(), first.access_key_id());
    assert_eq!(
        emulator.requests("AssumeRoleWithWebIdentity").len(),
        2,
        "one initial session, one renewal"
    );
}

#[tokio::test]
async fn chained_session_renews_both_hops() {
    let emulator = Emulator::start();
    let (role_arn, token) = emulator.oidc_scenario();
    let target_policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": role_arn},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"sts:ExternalId": "ext-1234"}}
    }]});
    let target = emulator.call(
        "POST",
        "iam/role",
        Some(json!({"account": "222222222222", "name": "target", "trust_policy": target_policy})),
    );
    emulator.call(
        "POST",
        "credentials",
        Some(json!({"lifetime_seconds": LIFETIME_SECONDS})),
    );
    let target_arn = target["arn"].as_str().unwrap();
    let config = config(
        &emulator,
        &role_arn,
        &token,
        &[
            ("AWS_ROLE_ARN", target_arn),
            ("AWS_EXTERNAL_ID", "ext-1234"),
            ("AWS_ROLE_DURATION_SECONDS", "900"),
        ],
    );

    let session = establish(&config).await;
    assert_eq!(session.identity.account, "222222222222");
    let sts = session.clients.sts();
    for _ in 0..2 {
        sleep_past_expiry().await;
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .expect("renewed chained credentials are accepted");
        assert_eq!(identity.account(), Some("222222222222"));
    }
    assert_eq!(emulator.requests("AssumeRoleWithWebIdentity").len(), 3);
    let assumed = emulator.requests("AssumeRole");
    assert_eq!(assumed.len(), 3);
    for request in &assumed {
        assert_eq!(request["params"]["ExternalId"], "ext-1234");
        assert_eq!(request["params"]["DurationSeconds"], "900");
    }
}

/// An OIDC session chained into a role of another account (no ExternalId), every credential the
/// emulator issues lasting LIFETIME_SECONDS.
async fn chained_session_with_short_lives() -> (Emulator, Session) {
    let emulator = Emulator::start();
    let (role_arn, token) = emulator.oidc_scenario();
    let target_policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": role_arn},
        "Action": ["sts:AssumeRole", "sts:TagSession"]
    }]});
    let target = emulator.call(
        "POST",
        "iam/role",
        Some(json!({"account": "222222222222", "name": "target", "trust_policy": target_policy})),
    );
    emulator.call(
        "POST",
        "credentials",
        Some(json!({"lifetime_seconds": LIFETIME_SECONDS})),
    );
    let target_arn = target["arn"].as_str().unwrap();
    let config = config(&emulator, &role_arn, &token, &[("AWS_ROLE_ARN", target_arn)]);
    let session = establish(&config).await;
    (emulator, session)
}

/// The account a call made once the session's credentials expired answers as: the session had to
/// renew them first (`why`: what a failure would mean).
async fn account_after_expiry(session: &Session, why: &str) -> String {
    let identity = session.clients.sts().get_caller_identity().send().await.expect(why);
    identity.account().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_chained_renewal_throttled_for_a_while_is_tried_again() {
    let (emulator, session) = chained_session_with_short_lives().await;
    // The renewal's AssumeRole is throttled twice (the SDK makes one attempt here, so the
    // pipe's own retries are what carries the renewal through).
    emulator.call(
        "POST",
        "faults",
        Some(json!({"service": "sts", "action": "AssumeRole", "fault": "throttle", "count": 2})),
    );
    sleep_past_expiry().await;

    assert_eq!(
        account_after_expiry(&session, "the renewal went through once STS stopped throttling").await,
        "222222222222"
    );
    let assumed = emulator.requests("AssumeRole");
    let throttled = assumed.iter().filter(|r| r["fault"] == "throttle").count();
    assert_eq!((assumed.len(), throttled), (4, 2), "{assumed:?}");
}

#[tokio::test]
async fn a_chained_renewal_outlasting_the_first_hop_renews_the_first_hop_too() {
    let (emulator, session) = chained_session_with_short_lives().await;
    // Throttled for longer than the first hop's credentials last (pauses 1 + 1.5 + 2.25 + 3.4 s):
    // by then the first hop the renewal started with has expired, and AssumeRole signed with it
    // is refused as expired, which no retry of the same request cures.
    emulator.call(
        "POST",
        "faults",
        Some(json!({"service": "sts", "action": "AssumeRole", "fault": "throttle", "count": 4})),
    );
    sleep_past_expiry().await;

    assert_eq!(
        account_after_expiry(&session, "the renewal went through, with a renewed first hop").await,
        "222222222222"
    );
    // The throttled attempts, one signed with the expired first hop, then a chained session from
    // a new first hop.
    let codes: Vec<String> = emulator
        .requests("AssumeRole")
        .iter()
        .map(|r| r["error_code"].as_str().unwrap_or("ok").to_owned())
        .collect();
    let count = |code: &str| codes.iter().filter(|c| *c == code).count();
    assert_eq!(
        (codes.first().map(String::as_str), codes.last().map(String::as_str)),
        (Some("ok"), Some("ok")),
        "{codes:?}"
    );
    assert_eq!(
        (count("Throttling"), count("ExpiredToken"), codes.len()),
        (4, 1, 7),
        "{codes:?}"
    );
    assert_eq!(emulator.requests("AssumeRoleWithWebIdentity").len(), 3);
}
