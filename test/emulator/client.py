"""Python client for the emulator layer's control API (see README.md).

    emu = Emulator("http://127.0.0.1:PORT")
    emu.reset()
    provider = emu.create_oidc_provider("111111111111", ISSUER, [AUDIENCE])
    role = emu.create_role("111111111111", "deploy", trust_policy)
    token = emu.mint_token(bitbucket_claims(...))
"""

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from .leaks import encodings, find_leak  # noqa: F401 (encodings: part of this module's API)

BITBUCKET_ISSUER = "https://api.bitbucket.org/2.0/workspaces/{slug}/pipelines-config/identity/oidc"


class EmulatorError(Exception):
    pass


@contextlib.contextmanager
def running_emulator():
    """Start server.py on a free loopback port for a script (the benchmark, the try-out);
    yield its base URL; stop it afterwards. pytest has its own fixture in conftest.py."""
    server = Path(__file__).resolve().parent / "server.py"
    env = {**os.environ, "EMULATOR_QUIET": "1"}
    env.pop("MOTO_ACCOUNT_ID", None)
    proc = subprocess.Popen([sys.executable, str(server), "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if line.startswith("emulator ready on "):
                yield line.split("emulator ready on ", 1)[1].strip()
                break
        else:
            raise EmulatorError("the emulator exited before it was ready")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Emulator:
    def __init__(self, base_url, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    # ---------------------------------------------------------------- plumbing

    def _call(self, method, path, body=None, params=None):
        resp = self._http.request(
            method, f"{self.base_url}/_layer/{path}", json=body, params=params, timeout=self.timeout
        )
        if resp.status_code >= 400:
            raise EmulatorError(f"{method} /_layer/{path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    # ---------------------------------------------------------------- state

    def reset(self):
        """Clear moto and all layer state (faults, records, lifetimes, issued keys)."""
        self._call("POST", "reset")

    def health(self):
        return self._call("GET", "health")

    # ---------------------------------------------------------------- OIDC issuer

    def mint_token(self, claims, key="trusted", kid=None):
        """An RS256 JWT with exactly these claims. key="untrusted" forges one."""
        body = {"claims": claims, "key": key}
        if kid is not None:
            body["kid"] = kid
        return self._call("POST", "oidc/token", body)["token"]

    def jwks(self):
        return self._call("GET", "oidc/jwks")

    def idp_outage(self, count=1, kind="keys"):
        """STS cannot fetch the identity provider's keys for the next `count` web-identity
        calls: kind "keys" (InvalidIdentityToken) or "communication" (IDPCommunicationError)."""
        return self._call("POST", "oidc/outage", {"count": count, "kind": kind})["outage"]

    def issuer_certificate(self, thumbprint, trusted_ca=True):
        """The thumbprint of the certificate the issuer presents now (None: not checked), and
        whether a CA IAM trusts signed it; only when none did, STS refuses tokens of a provider
        whose configured thumbprints lack it."""
        return self._call("POST", "oidc/certificate", {"thumbprint": thumbprint, "trusted_ca": trusted_ca})["thumbprint"]

    # ---------------------------------------------------------------- IAM scenario setup

    def create_oidc_provider(self, account, url, client_ids):
        return self._call(
            "POST", "iam/oidc-provider", {"account": account, "url": url, "client_ids": list(client_ids)}
        )["arn"]

    def create_role(self, account, name, trust_policy, max_session_duration=3600, path="/"):
        return self._call(
            "POST",
            "iam/role",
            {
                "account": account,
                "name": name,
                "trust_policy": trust_policy,
                "max_session_duration": max_session_duration,
                "path": path,
            },
        )["arn"]

    def enforce_role_policy(self, role_arn, policy):
        """Enforce `policy` (a permissions policy) for sessions of `role_arn` (None: stop)."""
        return self._call("POST", "iam/role-policy", {"role_arn": role_arn, "policy": policy})

    def create_user(self, account, name):
        """-> {"arn", "access_key_id", "secret_access_key"}"""
        return self._call("POST", "iam/user", {"account": account, "name": name})

    # ---------------------------------------------------------------- faults

    def add_fault(self, fault, service="*", action="*", count=1, hang_seconds=None, **extra):
        """fault: throttle | access_denied | server_error | unavailable | error | drop | hang | garbled |
        lost_answer (applied, then the answer dropped).
        For "error", pass status=, code=, message=."""
        body = {"service": service, "action": action, "fault": fault, "count": count, **extra}
        if hang_seconds is not None:
            body["hang_seconds"] = hang_seconds
        return self._call("POST", "faults", body)["fault"]

    def faults(self):
        return self._call("GET", "faults")["faults"]

    def clear_faults(self):
        self._call("DELETE", "faults")

    # ---------------------------------------------------------------- observation

    def requests(self, service=None, action=None):
        params = {k: v for k, v in (("service", service), ("action", action)) if v}
        return self._call("GET", "requests", params=params)["requests"]

    def secrets(self):
        return self._call("GET", "secrets")["secrets"]

    def assert_no_secrets_in(self, *texts, more=()):
        """Fail if any secret the layer issued or saw (or `more`) appears in the given output
        texts, in any form test/emulator/leaks.py knows (raw, JSON-escaped, URL-encoded, base64 at any
        offset)."""
        secrets = [*self.secrets(), *more]
        for text in texts:
            leak = find_leak(text, secrets)
            if leak:
                form, secret = leak
                raise AssertionError(f"secret leaked ({form}): {secret[:6]}... found in output")

    # ---------------------------------------------------------------- credentials

    def set_credential_lifetime(self, lifetime_seconds):
        """STS credentials issued from now on expire after this many seconds (None: moto's)."""
        return self._call("POST", "credentials", {"lifetime_seconds": lifetime_seconds})

    def issued_credentials(self):
        """-> {"lifetime_seconds", "issued": [{access_key_id, arn, role_arn, account, expiration, ...}]}"""
        return self._call("GET", "credentials")

    # ---------------------------------------------------------------- ECS scenarios (ecs.py)

    def ecs_rollout(self, cluster, service, outcome, polls=1, events=None, stopped_tasks=None, account=None,
                    stale_polls=None, current_late=False, current_stale_polls=None, timed=None):
        """Script the next UpdateService of `service` that changes its task definition or
        forces a deployment. outcome: complete | fail | superseded | stuck. stale_polls: the
        DescribeServices polls (1 = first) answered as before the update (eventual consistency).
        current_stale_polls: UpdateService (and the first N polls) still name the previous
        currentServiceDeployment (containers-roadmap#2709); None: off. timed: {"running_s",
        "complete_s"}: a complete rollout on the clock instead of polls."""
        body = {"cluster": cluster, "service": service, "outcome": outcome, "polls": polls,
                "events": list(events or []), "stopped_tasks": list(stopped_tasks or []),
                "stale_polls": list(stale_polls or []), "current_late": current_late,
                "current_stale_polls": current_stale_polls}
        if timed is not None:
            body["timed"] = dict(timed)
        if account is not None:
            body["account"] = account
        return self._call("POST", "ecs/rollout", body)["rollout"]

    def ecs_rollouts(self):
        """-> {"pending": [scripts], "active": [{cluster, service, outcome, polled, deployment_id...}]}"""
        return self._call("GET", "ecs/rollouts")

    def clear_ecs_rollouts(self):
        self._call("DELETE", "ecs/rollouts")

    def ecs_run_task(self, polls=1, containers=None, stopped_reason="Essential container in task exited",
                     stop_code="EssentialContainerExited", failures=None):
        """Script the next RunTask. containers: [{"name", "exitCode" (None: never started),
        "reason"}]; default: every container of the task definition exits 0."""
        body = {"polls": polls, "stoppedReason": stopped_reason, "stopCode": stop_code}
        if containers is not None:
            body["containers"] = list(containers)
        if failures is not None:
            body["failures"] = list(failures)
        return self._call("POST", "ecs/run-task", body)["run_task"]

    def ecs_forget_service_revisions(self, cluster, service, account=None):
        """The service's revisions can no longer be described (DescribeServiceRevisions answers
        them MISSING), as ECS answers for revisions created before 25 October 2024."""
        body = {"cluster": cluster, "service": service}
        if account is not None:
            body["account"] = account
        return self._call("POST", "ecs/service-revisions/forget", body)

    def ecs_system_tags(self, task_definition, tags):
        """Put tags AWS reserves ("aws:...") on a revision, as CloudFormation would."""
        return self._call("POST", "ecs/system-tags", {"task_definition": task_definition, "tags": tags})

    def ecs_service_system_tags(self, cluster, service, tags, account=None):
        """Put tags AWS reserves ("aws:cloudformation:...") on a service, as CloudFormation does."""
        body = {"cluster": cluster, "service": service, "tags": tags}
        if account is not None:
            body["account"] = account
        return self._call("POST", "ecs/system-tags", body)

    def ecs_empty_answer(self, action, count=1, skip=0):
        """The next `count` successful answers of the ECS `action` (after `skip`) lose their item
        (DescribeServices: `services: []`, no failures; DescribeTaskDefinition and
        RegisterTaskDefinition: no `taskDefinition`; UpdateService: no `service`; RunTask and
        DescribeTasks: no tasks, no failures)."""
        return self._call("POST", "ecs/empty-answer", {"action": action, "count": count, "skip": skip})

    def ecs_task_definition(self, family_revision, account=None):
        """The exact body RegisterTaskDefinition received for `family:revision`."""
        params = {"account": account} if account else None
        return self._call("GET", f"ecs/task-definitions/{family_revision}", params=params)

    # ---------------------------------------------------------------- Lambda scenarios (lambda_.py)

    def lambda_script(self, function, in_progress_polls=1, outcome="Successful", reason=None,
                      reason_code=None, applies_to="any", account=None, in_progress_s=None):
        """Script the next UpdateFunctionCode/UpdateFunctionConfiguration of `function`
        (applies_to: code | configuration | any): InProgress for `in_progress_polls`
        GetFunction(Configuration) calls, then Successful or Failed (reason, reason_code).
        in_progress_s: InProgress for that many seconds after the update instead (on the clock;
        `lambda_status()["history"][i]["completes_at"]` says when it ends)."""
        body = {"function": function, "in_progress_polls": in_progress_polls, "outcome": outcome,
                "reason": reason, "reason_code": reason_code, "applies_to": applies_to}
        if in_progress_s is not None:
            body["in_progress_s"] = in_progress_s
        if account is not None:
            body["account"] = account
        return self._call("POST", "lambda/script", body)["script"]

    def lambda_state(self, function, state="Pending", polls=1, reason=None, reason_code=None, account=None,
                     version=None, seconds=None):
        """The function (or its published `version`) reports State `state` (Pending: also
        LastUpdateStatus InProgress) for `polls` GetFunction(Configuration) calls of it (None:
        for ever), then Active; with `seconds`, for that many seconds from now instead."""
        body = {"function": function, "state": state, "polls": polls, "reason": reason, "reason_code": reason_code,
                "version": version}
        if seconds is not None:
            body["seconds"] = seconds
        if account is not None:
            body["account"] = account
        return self._call("POST", "lambda/state", body)["state"]

    def alarm_goes_off(self, alarm, after_update_alias=None, after_polls=None, state="ALARM", reason=None):
        """`alarm` (a CloudWatch alarm made with put_metric_alarm) goes to `state` once the pipe
        has made `after_update_alias` UpdateAlias calls, or after `after_polls` DescribeAlarms."""
        body = {"alarm": alarm, "state": state, "reason": reason, "after_update_alias": after_update_alias,
                "after_polls": after_polls}
        return self._call("POST", "cloudwatch/alarm", {k: v for k, v in body.items() if v is not None})

    def lambda_conflicts(self, function, count=1, action="*", account=None):
        """The next `count` calls of `action` ("*": any call that changes the function) on
        `function` get 409 ResourceConflictException."""
        body = {"function": function, "count": count, "action": action}
        if account is not None:
            body["account"] = account
        return self._call("POST", "lambda/conflicts", body)["conflicts"]

    def lambda_version_state(self, function, pending_polls=1, outcome="Active", reason=None, reason_code=None,
                             account=None, pending_s=None):
        """Script the next PublishVersion of `function` that makes a new version: the version
        is Pending for `pending_polls` GetFunction(Configuration) calls of it (Qualifier), then
        Active or Failed (reason, reason_code: a StateReasonCode); with `pending_s`, for that
        many seconds after the PublishVersion instead (history's `completes_at`)."""
        body = {"function": function, "pending_polls": pending_polls, "outcome": outcome,
                "reason": reason, "reason_code": reason_code}
        if pending_s is not None:
            body["pending_s"] = pending_s
        if account is not None:
            body["account"] = account
        return self._call("POST", "lambda/version-state", body)["version_state"]

    def lambda_provisioned_concurrency(self, function, qualifier, executions=2, in_progress_polls=1,
                                       outcome="READY", reason=None, account=None, in_progress_s=None):
        """A provisioned-concurrency configuration in place (READY) on `qualifier` (an alias or a
        published version) of `function`; its next allocation (the alias moving, a Put) is
        IN_PROGRESS for `in_progress_polls` GetProvisionedConcurrencyConfig calls, then READY,
        or FAILED with `reason` (default FUNCTION_ERROR_INIT_FAILURE); with `in_progress_s`,
        for that many seconds after it starts instead (`lambda_status()["provisioned_history"]`
        keeps `completes_at`)."""
        body = {"function": function, "qualifier": qualifier, "executions": executions,
                "in_progress_polls": in_progress_polls, "outcome": outcome, "reason": reason}
        if in_progress_s is not None:
            body["in_progress_s"] = in_progress_s
        if account is not None:
            body["account"] = account
        return self._call("POST", "lambda/provisioned-concurrency", body)["provisioned_concurrency"]

    def lambda_unknown_members(self, answer):
        """How UpdateFunctionConfiguration answers a body with members the Lambda model does
        not have: "refuse" (400 SerializationException, the default) or "ignore" (moto's: applied
        without them). Either way the record lists them as `unknown_members`."""
        return self._call("POST", "lambda/unknown-members", {"answer": answer})

    def lambda_status(self):
        """-> {"scripts", "conflicts", "history", "functions": [{function, revision_id, view, versions...}]}"""
        return self._call("GET", "lambda/status")

    def clear_lambda_scripts(self):
        self._call("DELETE", "lambda/scripts")

    # ---------------------------------------------------------------- CodeDeploy (codedeploy.py)

    def codedeploy_deployment(self, outcome="succeed", fail_at=None, alarm=None, diagnostics=None, error=None,
                              polls_per_event=1, seconds_per_event=None, ready_wait=None, termination_wait=False,
                              application=None, deployment_group=None, stop_polls=None, count=1, timed=None):
        """How the next `count` CodeDeploy ECS deployments (into `application`/`deployment_group`,
        or any) go: outcome succeed | alarm (`alarm` trips after `fail_at`: Stopped, ALARM_ACTIVE)
        | fail at the lifecycle event `fail_at` (the failed event's
        `diagnostics` {errorCode, message, scriptName, logTail}; the deployment's `error` {code,
        message}); one lifecycle event per `polls_per_event` GetDeployment polls, or per
        `seconds_per_event` seconds, or on the clock with `timed` {start_s, event_s, events: {event:
        s}, interval_s, finish_s} (codedeploy_clock.py); `ready_wait` / `termination_wait`: True
        (until ContinueDeployment) or a number of ticks (seconds when timed; a ready wait that runs
        out is Stopped, TIMEOUT; None: the group's deploymentReadyOption); `stop_polls`: polls
        after a StopDeployment that still see the deployment as it was (default 1; 0: stopped at
        once). The deployments' summaries keep when AfterAllowTraffic succeeded with all traffic
        moved (`traffic_moved_at`) and when they ended (`completed_at`)."""
        body = {"outcome": outcome, "polls_per_event": polls_per_event, "termination_wait": termination_wait,
                "count": count}
        optional = {"fail_at": fail_at, "alarm": alarm, "diagnostics": diagnostics, "error": error,
                    "seconds_per_event": seconds_per_event, "ready_wait": ready_wait,
                    "application": application, "deployment_group": deployment_group, "stop_polls": stop_polls,
                    "timed": timed}
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._call("POST", "codedeploy/deployment", body)["deployment"]

    def codedeploy_deployments(self):
        """-> {"deployments": [{id, status, events, appspec, error, rollback, rollback_of...}], "pending"}"""
        return self._call("GET", "codedeploy/deployments")

    def clear_codedeploy_deployments(self):
        self._call("DELETE", "codedeploy/deployment")

    # ---------------------------------------------------------------- S3 scenarios (s3_.py)

    def s3_replace_after_put(self, bucket, key, data, count=1, account=None):
        """Right after the next `count` successful PutObject of bucket/key, another writer
        puts `data` (bytes) there (recorded as a synthetic PutObject)."""
        import base64

        body = {"bucket": bucket, "key": key, "data_b64": base64.b64encode(data).decode(), "count": count}
        if account is not None:
            body["account"] = account
        return self._call("POST", "s3/replace-after-put", body)["replace_after_put"]

    # ---------------------------------------------------------------- ECR (ecr.py)

    def ecr_registry(self, endpoint, password, username="AWS"):
        """GetAuthorizationToken answers with this registry and its credentials from now on."""
        body = {"endpoint": endpoint, "username": username, "password": password}
        return self._call("POST", "ecr/registry", body)["registry"]

    def clear_ecr_registry(self):
        return self._call("DELETE", "ecr/registry")

    def ecr_create_race(self, count=1, image_tag_mutability=None):
        """Another creator makes the repository just before the next `count` CreateRepository."""
        body = {"count": count}
        if image_tag_mutability is not None:
            body["image_tag_mutability"] = image_tag_mutability
        return self._call("POST", "ecr/create-race", body)

    def ecr_scan(self, **scenario):
        """Image scans answered from this scenario (ecr_scan.py): kind, on_push, not_found_polls,
        in_progress_polls, status, description, findings, start, timed, images."""
        return self._call("POST", "ecr/scan", scenario)["scan"]

    def ecr_scans(self):
        """Every image's scan so far: started_at, completed_at, first_seen_at, polls (ecr_scan.py)."""
        return self._call("GET", "ecr/scans")["scans"]

    def clear_ecr_scan(self):
        return self._call("DELETE", "ecr/scan")


# -------------------------------------------------------------------- helpers for tests


def bitbucket_issuer(workspace="ws"):
    return BITBUCKET_ISSUER.format(slug=workspace)


def bitbucket_audience(workspace_uuid):
    return f"ari:cloud:bitbucket::workspace/{workspace_uuid.strip('{}')}"


def bitbucket_claims(
    workspace="ws",
    workspace_uuid=None,
    repo_uuid=None,
    step_uuid=None,
    env_uuid=None,
    branch="main",
    lifetime=3600,
    aud=None,
    **extra,
):
    """Claims shaped like a Bitbucket Pipelines step token (see design/oidc.md).

    UUIDs are braced in claims. `aud` defaults to the workspace audience; pass a list to
    mimic custom `oidc: {audiences: [...]}`.
    """

    def braced(u):
        u = u or str(uuid.uuid4())
        return u if u.startswith("{") else "{" + u + "}"

    workspace_uuid, repo_uuid, step_uuid = braced(workspace_uuid), braced(repo_uuid), braced(step_uuid)
    now = int(time.time())
    sub = f"{repo_uuid}:{step_uuid}" if env_uuid is None else f"{repo_uuid}:{braced(env_uuid)}:{step_uuid}"
    claims = {
        "iss": bitbucket_issuer(workspace),
        "aud": aud if aud is not None else bitbucket_audience(workspace_uuid),
        "sub": sub,
        "iat": now,
        "exp": now + lifetime,
        "workspaceUuid": workspace_uuid,
        "repositoryUuid": repo_uuid,
        "stepUuid": step_uuid,
        "pipelineUuid": braced(None),
        "branchName": branch,
    }
    if env_uuid is not None:
        claims["deploymentEnvironmentUuid"] = braced(env_uuid)
    claims.update(extra)
    return claims


def web_identity_trust_policy(provider_arn, issuer, audience, sub_pattern=None, **conditions):
    """A trust policy as a user would write it for Bitbucket OIDC (design/oidc.md step 2)."""
    host = issuer[len("https://"):] if issuer.startswith("https://") else issuer
    condition = {"StringEquals": {f"{host}:aud": audience}}
    if sub_pattern is not None:
        condition["StringLike"] = {f"{host}:sub": sub_pattern}
    for op, block in conditions.items():
        condition.setdefault(op, {}).update(block)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }
