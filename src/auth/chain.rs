//! The credentials provider of the run: each hop's credentials held and renewed only when they
//! near expiry, the web-identity session stretched to cover a wait, and a renewal that fails
//! reported as such to whichever call needed it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider, error::CredentialsError};
use aws_sdk_sts::types::Tag;
use tracing::{info, warn};

use super::explain;
use crate::aws::wait::{self, Wait};
use crate::aws::{self, AwsFailure, Clients, CredentialsUnavailable};
use crate::domain::auth_plan::{AuthPlan, ChainedRole, CredentialSource};
use crate::domain::secret::Secret;
use crate::domain::sts::{CHAINED_SESSION_MAX_SECONDS, SESSION_SECONDS, masked_key_id};
use crate::domain::time::{format_time, human};
use crate::error::Error;

/// Credentials are renewed when less than this is left of them (or a quarter of their
/// lifetime, for short sessions), so no request goes out with credentials about to expire.
const REFRESH_MARGIN_MAX: Duration = Duration::from_secs(300);
/// Asked on top of a wait, so the session outlives the last poll.
const WAIT_HEADROOM: Duration = Duration::from_secs(300);
/// How long the web-identity exchange is tried again while STS cannot reach the identity
/// provider's keys: such outages last seconds to tens of seconds, and the step cannot go on
/// without a session.
const IDP_RETRY_SPAN: Duration = Duration::from_secs(30);
/// Tries within that span (pauses from 1 s, growing by half, up to 8 s: about 29 s in all).
const IDP_ATTEMPTS: u32 = 8;
const IDP_PAUSE_MAX: Duration = Duration::from_secs(8);
/// Longest pause between tries of a renewal that failed transiently.
const RENEWAL_PAUSE_MAX: Duration = Duration::from_secs(10);

/// The first session's tries while STS cannot reach the identity provider: pauses from 1 s,
/// growing by half up to `IDP_PAUSE_MAX`, `IDP_ATTEMPTS` at most, within `IDP_RETRY_SPAN` (or
/// the run's deadline, when that comes first).
fn first_session_retries(deadline: Instant) -> Wait {
    Wait::new("STS", deadline.min(wait::now() + IDP_RETRY_SPAN))
        .polling(Duration::from_secs(1), IDP_PAUSE_MAX)
        .through_only(explain::is_idp_unreachable)
        .at_most(IDP_ATTEMPTS)
        .jittered()
}

/// The credentials provider every client of the run uses. It holds each hop's credentials and
/// renews a hop only when it nears expiry: the first hop (web identity) can be renewed while the
/// step's token is valid, the chained hop from the first hop's credentials.
#[derive(Clone, Debug)]
pub struct RoleChain {
    inner: Arc<ChainInner>,
}

#[derive(Debug)]
struct ChainInner {
    plan: AuthPlan,
    wait_horizon: Option<Duration>,
    /// Retries of STS stop here (the run's WAIT_TIMEOUT).
    deadline: Instant,
    /// Without credentials: `AssumeRoleWithWebIdentity` is unsigned.
    unsigned: Clients,
    /// Named in errors when STS cannot be reached.
    sts_endpoint: String,
    /// One refresh at a time; concurrent requests wait for it instead of each calling STS.
    held: tokio::sync::Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    first_hop: Option<Obtained>,
    last_hop: Option<Obtained>,
    /// What STS granted the first time, so renewals do not ask for a refused duration again.
    web_identity_duration: Option<Duration>,
    /// The chained role refused session tags once: renewals do not ask again.
    untagged: bool,
}

#[derive(Debug, Clone)]
struct Obtained {
    credentials: Credentials,
    at: SystemTime,
    /// Who these credentials act as, when STS said so (`AssumedRoleUser`): plain keys do not
    /// name their user, so only they need `GetCallerIdentity`.
    caller_arn: Option<String>,
}

impl Obtained {
    fn now(credentials: Credentials) -> Obtained {
        Obtained {
            credentials,
            at: SystemTime::now(),
            caller_arn: None,
        }
    }

    fn has_expired(&self) -> bool {
        self.credentials
            .expiry()
            .is_some_and(|expiry| expiry <= SystemTime::now())
    }

    fn is_fresh(&self, now: SystemTime) -> bool {
        let Some(expiry) = self.credentials.expiry() else {
            return true;
        };
        let lifetime = expiry.duration_since(self.at).unwrap_or_default();
        let margin = REFRESH_MARGIN_MAX.min(lifetime / 4);
        expiry.duration_since(now).is_ok_and(|left| left > margin)
    }
}

impl RoleChain {
    pub fn new(
        plan: &AuthPlan,
        unsigned: Clients,
        sts_endpoint: String,
        wait_horizon: Option<Duration>,
        deadline: Instant,
    ) -> RoleChain {
        RoleChain {
            inner: Arc::new(ChainInner {
                plan: plan.clone(),
                wait_horizon,
                deadline,
                unsigned,
                sts_endpoint,
                held: tokio::sync::Mutex::new(Held::default()),
            }),
        }
    }

    /// Credentials of the last hop, renewed first when they near expiry.
    pub async fn current(&self) -> Result<Credentials, Error> {
        self.renewed().await.map_err(|(_, error)| error)
    }

    /// The assumed-role ARN STS gave the last hop, if it was a role (not plain keys).
    pub async fn assumed_role_arn(&self) -> Option<String> {
        let held = self.inner.held.lock().await;
        held.last_hop.as_ref().and_then(|last| last.caller_arn.clone())
    }

    /// `current`, or the hop that could not be obtained and why.
    async fn renewed(&self) -> Result<Credentials, (String, Error)> {
        let plan = &self.inner.plan;
        let mut held = self.inner.held.lock().await;
        let now = SystemTime::now();
        if let Some(last) = held.last_hop.as_ref().filter(|last| last.is_fresh(now)) {
            return Ok(last.credentials.clone());
        }
        let renewing = held.last_hop.is_some();
        let last = loop {
            let first = match held
                .first_hop
                .as_ref()
                .filter(|first| first.is_fresh(SystemTime::now()))
            {
                Some(first) => first.clone(),
                None => {
                    let first = self
                        .first_hop(&mut held, renewing)
                        .await
                        .map_err(|error| (first_hop_name(plan), error))?;
                    held.first_hop = Some(first.clone());
                    first
                }
            };
            let Some(chained) = &plan.chained else {
                break first;
            };
            match self
                .assume_chained_role(chained, &first.credentials, &mut held, renewing)
                .await
            {
                Ok(last) => break last,
                // A renewal tried again through a long STS outage can outlast the first hop it
                // started with; AssumeRole signed with it is then refused as expired, which no
                // retry cures: the first hop is renewed and the chained one tried again.
                Err(_) if renewing && first.has_expired() && Instant::now() < self.inner.deadline => {
                    warn!("The first hop of the AWS session expired while STS was being tried again; renewing it too");
                    held.first_hop = None;
                }
                Err(error) => {
                    return Err((
                        format!("{} → {} (AWS_ROLE_ARN)", first_hop_name(plan), chained.role.arn),
                        error,
                    ));
                }
            }
        };
        if renewing {
            let expiry = last.credentials.expiry().map(format_time).unwrap_or_default();
            info!("Renewed the AWS session; it now lasts until {expiry}");
        }
        held.last_hop = Some(last.clone());
        Ok(last.credentials)
    }

    /// How STS calls are tried again. The first session: only while STS cannot reach the
    /// identity provider (the SDK has retried throttling and 5xx already), for about 30 s. A
    /// renewal, which an action in the middle of a change or a wait depends on: through any
    /// trouble that passes (throttling, 5xx, no answer, the identity provider unreachable)
    /// until the run's deadline; only a refusal ends it.
    fn sts_retries(&self, renewing: bool) -> Wait {
        if renewing {
            Wait::new("STS (renewing the AWS session)", self.inner.deadline)
                .polling(Duration::from_secs(1), RENEWAL_PAUSE_MAX)
                .through_only(|failure| failure.kind.passes() || explain::is_idp_unreachable(failure))
                .jittered()
        } else {
            first_session_retries(self.inner.deadline)
        }
    }

    async fn first_hop(&self, held: &mut Held, renewing: bool) -> Result<Obtained, Error> {
        let plan = &self.inner.plan;
        match &plan.source {
            CredentialSource::AccessKeys {
                access_key_id,
                secret_access_key,
                session_token,
            } => Ok(Obtained::now(Credentials::new(
                access_key_id,
                secret_access_key.expose(),
                session_token.as_ref().map(|token| token.expose().to_owned()),
                None,
                "pipe-variables",
            ))),
            CredentialSource::WebIdentity { role, token, claims } => {
                let (preferred, fallback) = match held.web_identity_duration {
                    Some(granted) => (granted, None),
                    None => web_identity_duration(plan, self.inner.wait_horizon),
                };
                let result = match self
                    .assume_with_web_identity(&role.arn, token, preferred, renewing)
                    .await
                {
                    Err(failure) if fallback.is_some() && explain::is_duration_refusal(&failure) => {
                        let fallback = fallback.unwrap_or(preferred);
                        warn!(
                            "The role {} refused a {} session ({}); using {} and renewing it while the step's \
                             token is valid. Raise the role's MaxSessionDuration to cover WAIT_TIMEOUT.",
                            role.arn,
                            human(preferred),
                            failure.message,
                            human(fallback)
                        );
                        held.web_identity_duration = Some(fallback);
                        self.assume_with_web_identity(&role.arn, token, fallback, renewing)
                            .await
                    }
                    other => other,
                };
                held.web_identity_duration.get_or_insert(preferred);
                result.map_err(|failure| {
                    explain::web_identity_refused(failure, role, claims, plan, &self.inner.sts_endpoint)
                })
            }
        }
    }

    async fn assume_with_web_identity(
        &self,
        role_arn: &str,
        token: &Secret,
        duration: Duration,
        renewing: bool,
    ) -> Result<Obtained, AwsFailure> {
        const OPERATION: &str = "sts:AssumeRoleWithWebIdentity";
        let request = self
            .inner
            .unsigned
            .sts()
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(&self.inner.plan.session_name)
            .web_identity_token(token.expose())
            .duration_seconds(duration.as_secs() as i32);
        // STS now and then cannot fetch the provider's keys; that passes within seconds.
        let output = self
            .sts_retries(renewing)
            .retry(|| aws::call(OPERATION, request.clone().send()))
            .await?;
        obtained_from_sts(OPERATION, output.credentials, output.assumed_role_user)
    }

    /// AssumeRole on the chained role. A role whose trust policy does not allow session tags
    /// (typical of a vendor's role with an ExternalId) is assumed again without them, with a
    /// warning, unless the user asked for tags explicitly.
    async fn assume_chained_role(
        &self,
        chained: &ChainedRole,
        first: &Credentials,
        held: &mut Held,
        renewing: bool,
    ) -> Result<Obtained, Error> {
        let plan = &self.inner.plan;
        let tags: &[(String, String)] = if held.untagged { &[] } else { &plan.session_tags };
        let result = match self.assume_role(chained, first, tags, renewing).await {
            Err(failure)
                if !tags.is_empty() && !plan.session_tags_required && explain::is_tag_session_refusal(&failure) =>
            {
                warn!(
                    "The trust policy of AWS_ROLE_ARN {role} does not allow sts:TagSession, so the session is not \
                     tagged with the Bitbucket context (CloudTrail shows the session name only). To tag it, allow \
                     it in the statement that admits {first}: \"Principal\": {{\"AWS\": \"{first}\"}}, \
                     \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"], and, across accounts, in the \
                     permissions of {first} as well. To silence this, set AWS_SESSION_TAGS: \"false\".",
                    role = chained.role.arn,
                    first = first_principal(plan),
                );
                held.untagged = true;
                self.assume_role(chained, first, &[], renewing).await
            }
            other => other,
        };
        result.map_err(|failure| explain::assume_role_refused(failure, chained, plan, &self.inner.sts_endpoint))
    }

    async fn assume_role(
        &self,
        chained: &ChainedRole,
        first: &Credentials,
        tags: &[(String, String)],
        renewing: bool,
    ) -> Result<Obtained, AwsFailure> {
        const OPERATION: &str = "sts:AssumeRole";
        let plan = &self.inner.plan;
        let sts = self
            .inner
            .unsigned
            .signed_with(SharedCredentialsProvider::new(first.clone()))
            .sts();
        let mut request = sts
            .assume_role()
            .role_arn(&chained.role.arn)
            .role_session_name(&plan.session_name)
            .duration_seconds(plan.duration.as_secs() as i32)
            .set_external_id(chained.external_id.as_ref().map(|id| id.expose().to_owned()));
        for (key, value) in tags {
            let tag = Tag::builder().key(key).value(value).build();
            request =
                request.tags(tag.map_err(|err| AwsFailure::local(OPERATION, format!("session tag {key}: {err}")))?);
        }
        let output = if renewing {
            self.sts_retries(true)
                .retry(|| aws::call(OPERATION, request.clone().send()))
                .await?
        } else {
            aws::call(OPERATION, request.send()).await?
        };
        obtained_from_sts(OPERATION, output.credentials, output.assumed_role_user)
    }
}

impl ProvideCredentials for RoleChain {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            // The renewal runs on its own task: a renewal tried again through an STS outage
            // outlasts the attempt timeout of the call that needed it, and must not be cancelled
            // with that attempt (the call's next attempt waits for the same renewal instead).
            let chain = self.clone();
            let renewal = tokio::spawn(async move { chain.renewed().await });
            let renewed = renewal.await.unwrap_or_else(|failed| {
                Err((
                    first_hop_name(&self.inner.plan),
                    Error::failed(format!("the session renewal stopped: {failed}"), vec![]),
                ))
            });
            // The failed call finds this again in its error (`aws::FailureKind::CredentialsUnavailable`)
            // and ends the action with it, whatever it was doing.
            renewed.map_err(|(hop, error)| {
                CredentialsError::provider_error(CredentialsUnavailable {
                    hop,
                    summary: error.to_string(),
                    details: error.details().to_vec(),
                })
            })
        })
    }
}

fn obtained_from_sts(
    operation: &'static str,
    credentials: Option<aws_sdk_sts::types::Credentials>,
    assumed_role_user: Option<aws_sdk_sts::types::AssumedRoleUser>,
) -> Result<Obtained, AwsFailure> {
    let Some(credentials) = credentials else {
        return Err(AwsFailure::local(operation, "the response carried no credentials"));
    };
    // Registered before anything else can print them.
    let secret = Secret::new(credentials.secret_access_key);
    let session_token = Secret::new(credentials.session_token);
    let expiry = SystemTime::try_from(credentials.expiration).ok();
    Ok(Obtained {
        caller_arn: assumed_role_user.map(|user| user.arn),
        ..Obtained::now(Credentials::new(
            credentials.access_key_id,
            secret.expose(),
            Some(session_token.expose().to_owned()),
            expiry,
            "aws-role-deploy",
        ))
    })
}

/// How long a web-identity session to ask for, and what to fall back to if the role's
/// MaxSessionDuration refuses it. The step's token cannot be used once it expires, so when the
/// action will wait, the first hop asks for enough to cover the wait; the user's own choice of
/// duration for an unchained role is kept as it is.
pub fn web_identity_duration(plan: &AuthPlan, wait_horizon: Option<Duration>) -> (Duration, Option<Duration>) {
    let usual = if plan.chained.is_some() {
        Duration::from_secs(CHAINED_SESSION_MAX_SECONDS)
    } else {
        plan.duration
    };
    if plan.chained.is_none() && plan.duration_explicit {
        return (plan.duration, None);
    }
    let Some(horizon) = wait_horizon else {
        return (usual, None);
    };
    let longest = Duration::from_secs(*SESSION_SECONDS.end());
    let needed = (horizon + WAIT_HEADROOM).min(longest);
    // Whole minutes read better in CloudTrail and in warnings.
    let needed = Duration::from_secs(needed.as_secs().div_ceil(60) * 60).min(longest);
    if needed > usual {
        (needed, Some(usual))
    } else {
        (usual, None)
    }
}

/// Who assumes the chained role, as a trust policy's principal names it.
fn first_principal(plan: &AuthPlan) -> String {
    match &plan.source {
        CredentialSource::WebIdentity { role, .. } => role.arn.clone(),
        CredentialSource::AccessKeys { access_key_id, .. } => {
            format!("the IAM user of access key {}", masked_key_id(access_key_id))
        }
    }
}

/// The first hop as users name it, for a renewal that failed.
fn first_hop_name(plan: &AuthPlan) -> String {
    match &plan.source {
        CredentialSource::WebIdentity { role, .. } => {
            format!("the step's OIDC token → {} (AWS_OIDC_ROLE_ARN)", role.arn)
        }
        CredentialSource::AccessKeys { access_key_id, .. } => format!("access key {}", masked_key_id(access_key_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::arn::RoleArn;
    use crate::domain::token::TokenClaims;

    fn plan(chained: bool, duration: u64, explicit: bool) -> AuthPlan {
        let role = RoleArn::parse("arn:aws:iam::111111111111:role/deploy").unwrap();
        AuthPlan {
            source: CredentialSource::WebIdentity {
                role: role.clone(),
                token: Secret::new("header.payload.signature"),
                claims: TokenClaims::default(),
            },
            chained: chained.then_some(ChainedRole {
                role,
                external_id: None,
            }),
            session_name: "s".into(),
            session_tags: vec![],
            session_tags_required: false,
            duration: Duration::from_secs(duration),
            duration_explicit: explicit,
            allowed_account_ids: vec![],
        }
    }

    #[test]
    fn web_identity_session_covers_the_wait_when_it_can() {
        let secs = Duration::from_secs;
        let cases = [
            // (chained, duration, explicit, horizon) → (preferred, fallback)
            ((false, 3600, false, None), (secs(3600), None)),
            ((false, 3600, false, Some(900)), (secs(3600), None)),
            ((false, 3600, false, Some(7200)), (secs(7500), Some(secs(3600)))),
            ((false, 3600, false, Some(86_400)), (secs(43_200), Some(secs(3600)))),
            ((false, 1800, true, Some(7200)), (secs(1800), None)),
            ((true, 900, true, None), (secs(3600), None)),
            ((true, 900, true, Some(7200)), (secs(7500), Some(secs(3600)))),
            ((false, 3600, false, Some(3601)), (secs(3960), Some(secs(3600)))),
        ];
        for ((chained, duration, explicit, horizon), expected) in cases {
            let got = web_identity_duration(&plan(chained, duration, explicit), horizon.map(secs));
            assert_eq!(
                got, expected,
                "chained={chained} duration={duration} explicit={explicit} horizon={horizon:?}"
            );
        }
    }

    #[test]
    fn credentials_are_fresh_until_the_margin() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expiring = |lifetime: u64| Obtained {
            credentials: Credentials::new("a", "b", None, Some(at + Duration::from_secs(lifetime)), "t"),
            at,
            caller_arn: None,
        };
        // An hour-long session is renewed five minutes before it ends...
        let hour = expiring(3600);
        assert!(hour.is_fresh(at + Duration::from_secs(3600 - 301)));
        assert!(!hour.is_fresh(at + Duration::from_secs(3600 - 299)));
        // ...a short one a quarter of its lifetime before.
        let short = expiring(8);
        assert!(short.is_fresh(at + Duration::from_secs(5)));
        assert!(!short.is_fresh(at + Duration::from_secs(7)));
        // Long-lived keys never expire.
        let keys = Obtained {
            credentials: Credentials::new("a", "b", None, None, "t"),
            at,
            caller_arn: None,
        };
        assert!(keys.is_fresh(at + Duration::from_secs(10_000_000)));
    }

    /// What STS says when it could not fetch the identity provider's keys (a passing outage).
    fn keys_unreachable() -> AwsFailure {
        AwsFailure {
            code: Some("InvalidIdentityToken".into()),
            ..AwsFailure::local(
                "sts:AssumeRoleWithWebIdentity",
                "Couldn't retrieve verification key from your identity provider",
            )
        }
    }

    /// When each try came, in the virtual time of a paused clock, against an outage that lasts.
    async fn tries_through_an_outage(run_deadline: Duration) -> Vec<Duration> {
        let started = wait::now();
        let tries = std::cell::RefCell::new(Vec::new());
        let last = first_session_retries(started + run_deadline)
            .retry(|| {
                tries.borrow_mut().push(wait::now() - started);
                async { Err::<(), _>(keys_unreachable()) }
            })
            .await
            .unwrap_err();
        assert!(explain::is_idp_unreachable(&last), "{last:?}");
        tries.into_inner()
    }

    // Such outages last seconds to tens of seconds: the tries cover about 30 s, with growing
    // pauses, not a few seconds (nor minutes). The clock is paused, so this is exact whatever
    // the machine's load; the end-to-end test (test_pipe.py) shows the binary doing it.
    #[tokio::test(start_paused = true)]
    async fn the_first_session_tries_sts_for_about_30_s_while_the_identity_provider_is_unreachable() {
        let tries = tries_through_an_outage(Duration::from_secs(600)).await;
        assert_eq!(tries.len(), IDP_ATTEMPTS as usize, "{tries:?}");
        assert_eq!(tries[0], Duration::ZERO, "the first try at once");
        let span = tries[tries.len() - 1];
        assert!(
            span >= Duration::from_secs(20) && span <= IDP_RETRY_SPAN + Duration::from_millis(1),
            "{tries:?}"
        );
        // Pauses from about 1 s (a quarter either way), each longer than the one before (bar the
        // jitter) up to IDP_PAUSE_MAX, the last one cut short by the span.
        let pauses: Vec<Duration> = tries.windows(2).map(|pair| pair[1] - pair[0]).collect();
        assert!(
            pauses[0] >= Duration::from_millis(750) && pauses[0] <= Duration::from_millis(1251),
            "{pauses:?}"
        );
        assert!(
            pauses
                .iter()
                .all(|pause| *pause <= IDP_PAUSE_MAX * 5 / 4 + Duration::from_millis(1)),
            "{pauses:?}"
        );
        assert!(pauses[5] > pauses[0] * 3, "the pauses grow: {pauses:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_run_deadline_cuts_the_first_session_tries_short() {
        let tries = tries_through_an_outage(Duration::from_secs(4)).await;
        assert!(tries.len() >= 3 && tries.len() < IDP_ATTEMPTS as usize, "{tries:?}");
        let last = tries[tries.len() - 1];
        assert!(
            last >= Duration::from_secs(4) && last <= Duration::from_secs(4) + Duration::from_millis(1),
            "the last try at the deadline: {tries:?}"
        );
    }
}
