"""Code Insights reports (CODE_INSIGHTS): each deployment leaves a report on BITBUCKET_COMMIT through
the Pipelines authentication proxy, here a fake one on loopback (insights.py) that records what it
receives. Every report is checked by the secrets scanner; a proxy that refuses or is absent costs
one warning at most, never the step."""

import json

import pytest

from emulator.lambda_scenario import make_zip
from emulator.leaks import secrets_in_env
from insights import TEST_PROXY_VARIABLE, FakeInsightsProxy
from pipe import REPO_SLUG, WORKSPACE
from test_ecs import CLUSTER, Ecs
from test_lambda import Lambda


@pytest.fixture
def proxy():
    with FakeInsightsProxy() as proxy:
        yield proxy


def with_proxy(proxy, **variables):
    return {TEST_PROXY_VARIABLE: proxy.address, **variables}


def report_path(scenario, report_id):
    return f"/2.0/repositories/{WORKSPACE}/{REPO_SLUG}/commit/{scenario.commit}/reports/{report_id}"


def the_report(proxy, scenario):
    """The one report the run left, checked for secrets and for how it was sent."""
    [request] = [r for r in proxy.requests if r["method"] == "PUT"]
    assert request["url"].startswith("http://api.bitbucket.org/2.0/repositories/")
    assert request["headers"]["host"] == "api.bitbucket.org"
    assert "authorization" not in request["headers"], "the proxy authenticates, the pipe sends no credential"
    assert request["headers"]["content-type"] == "application/json"
    report_id = request["path"].rsplit("/", 1)[1]
    assert request["path"] == report_path(scenario, report_id)
    return report_id, request["body"]


def assert_no_secrets(scenario, proxy, env):
    scenario.emulator.assert_no_secrets_in(proxy.text(), more=secrets_in_env(env))


def data(report):
    return {field["title"]: field for field in report["data"]}


def insights_warnings(result):
    return [line for line in result.lines_starting("WARNING:") if "Code Insights" in line]


# ------------------------------------------------------------------------------ ecs-deploy


def test_an_ecs_deploy_leaves_a_passed_report_with_revision_states_duration_and_console(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    ecs.rollout("complete")
    variables = with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app")
    result = ecs.run(**variables)

    assert result.code == 0, result
    report_id, report = the_report(proxy, scenario)
    assert_no_secrets(scenario, proxy, scenario.env(**variables))
    assert report_id.startswith(f"aws-role-deploy-ecs-deploy-us-east-1-{CLUSTER}-web-api-"), report_id
    assert report["result"] == "PASSED"
    assert report["reporter"] == "aws-role-deploy"
    assert report["title"] == f"ECS deploy to {CLUSTER}"
    fields = data(report)
    assert fields["Task definition"]["value"] == "web:2"
    assert fields["Services"]["value"] == "web: COMPLETED (SUCCESSFUL), api: COMPLETED (SUCCESSFUL)"
    assert fields["Duration"]["type"] == "DURATION" and 0 < fields["Duration"]["value"] < 60_000
    assert fields["Console"]["type"] == "LINK"
    assert fields["Console"]["value"]["href"].startswith("https://console.aws.amazon.com/ecs/v2/clusters/prod/services/web")
    assert report["details"].startswith("Deployed web:2 to web, api.")
    assert f"Code Insights: report {report_id} (PASSED) left on commit {scenario.commit[:12]}" in result.output
    assert insights_warnings(result) == []


def test_a_failed_ecs_deploy_leaves_a_failed_report_saying_how_each_service_ended(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("fail", polls=2)
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:broken", CONTAINER_NAME="app"))

    assert result.code == 1, result
    _, report = the_report(proxy, scenario)
    assert report["result"] == "FAILED"
    assert data(report)["Services"]["value"] == "web: ROLLED_BACK (ROLLBACK_SUCCESSFUL)"
    assert "rolled back" in report["details"]
    assert result.final_line.startswith("✖"), "the report comes before the last line"


def test_a_failure_before_any_change_still_leaves_a_report_naming_the_services(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    emulator.add_fault("access_denied", service="ecs", action="UpdateService", count=1)
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app"))

    assert result.code == 3, result
    _, report = the_report(proxy, scenario)
    assert report["result"] == "FAILED"
    assert "ecs:UpdateService" in report["details"]


def test_a_re_run_replaces_its_report_and_another_target_has_its_own(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    ecs.rollout("complete")
    assert ecs.run(**with_proxy(proxy, SERVICE_NAME="web", IMAGE="repo/app:2", CONTAINER_NAME="app")).code == 0
    ecs.rollout("complete")
    assert ecs.run(**with_proxy(proxy, SERVICE_NAME="web", IMAGE="repo/app:3", CONTAINER_NAME="app")).code == 0
    ecs.rollout("complete")
    assert ecs.run(**with_proxy(proxy, SERVICE_NAME="api", IMAGE="repo/app:3", CONTAINER_NAME="app")).code == 0

    ids = [r["path"].rsplit("/", 1)[1] for r in proxy.requests if r["method"] == "PUT"]
    assert ids[0] == ids[1] != ids[2]
    assert len(proxy.reports) == 2


def test_not_waited_for_is_pending_and_a_dry_run_leaves_no_report(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete", polls=5)
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT="false"))
    assert result.code == 0, result
    _, report = the_report(proxy, scenario)
    assert report["result"] == "PENDING"

    proxy.requests.clear()
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:3", CONTAINER_NAME="app", DRY_RUN="true"))
    assert result.code == 0, result
    assert proxy.requests == [], "a dry run would replace the deployment's report"


def test_a_rollback_replaces_the_deployments_report_and_says_it_was_a_rollback(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    assert ecs.run(**with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app")).code == 0
    ecs.rollout("complete", polls=2)
    result = ecs.run(**with_proxy(proxy, ACTION="rollback"))

    assert result.code == 0, result
    deploy, rollback = [r for r in proxy.requests if r["method"] == "PUT"]
    assert deploy["path"] == rollback["path"], "one report per service: the rollback replaces it"
    report = rollback["body"]
    assert report["title"] == f"ECS rollback in {CLUSTER}"
    assert report["result"] == "PASSED"
    assert report["details"].startswith("Rolled back web from web:2 to web:1")
    assert data(report)["Task definition"]["value"] == "web:1"


# ------------------------------------------------------------------------------ lambda-deploy


def test_a_lambda_deploy_leaves_its_version_alias_and_state(scenario, emulator, proxy):
    fn = Lambda(scenario, emulator)
    package = make_zip({"app.py": "def handler(e, c):\n    return 202\n"})
    variables = with_proxy(proxy, ZIP_FILE=fn.write("app.zip", package), ALIAS="live")
    result = fn.run(**variables)

    assert result.code == 0, result
    report_id, report = the_report(proxy, scenario)
    assert_no_secrets(scenario, proxy, scenario.env(**variables))
    assert report_id.startswith("aws-role-deploy-lambda-deploy-us-east-1-api-")
    assert report["result"] == "PASSED"
    fields = data(report)
    version = fn.boto.get_alias(FunctionName="api", Name="live")["FunctionVersion"]
    assert fields["Version"]["value"] == version
    assert fields["Alias"]["value"] == "live"
    assert fields["State"]["value"] == "DEPLOYED, new code"
    assert fields["Console"]["value"]["href"].endswith(f"#/functions/api/versions/{version}?tab=code")


def test_a_failed_lambda_deploy_leaves_a_failed_report(scenario, emulator, proxy):
    fn = Lambda(scenario, emulator)
    emulator.add_fault("access_denied", service="lambda", action="PublishVersion", count=1)
    package = make_zip({"app.py": "def handler(e, c):\n    return 203\n"})
    result = fn.run(**with_proxy(proxy, ZIP_FILE=fn.write("app.zip", package), ALIAS="live"))

    assert result.code != 0, result
    _, report = the_report(proxy, scenario)
    assert report["result"] == "FAILED"
    fields = data(report)
    assert fields["Alias"]["value"] == "live (not moved)"
    assert fields["State"]["value"].startswith("FAILED (PARTIAL)")
    assert "Not done" in report["details"]


# ------------------------------------------------------------------------------ never the step


def test_a_refused_report_is_one_warning_and_the_step_passes(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    proxy.answer_with(403)
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app"))

    assert result.code == 0, result
    [warning] = insights_warnings(result)
    assert "HTTP 403" in warning and 'CODE_INSIGHTS: "false"' in warning


def test_no_proxy_listening_is_one_warning_and_costs_nothing(scenario, emulator):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    with FakeInsightsProxy() as gone:
        address = gone.address
    result = ecs.run(**{TEST_PROXY_VARIABLE: address, "IMAGE": "repo/app:2", "CONTAINER_NAME": "app"})

    assert result.code == 0, result
    # Refused at once, one warning: not an answer waited for ("no answer within 10 s"), nor
    # tried again.
    [warning] = insights_warnings(result)
    assert "could not be reached" in warning and "no answer" not in warning, warning


def test_outside_bitbucket_no_attempt_is_made_and_nothing_is_said_but_in_debug(scenario, emulator):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    assert insights_warnings(result) == []
    assert "DEBUG: Code Insights: no report (host.docker.internal is not in /etc/hosts" in result.output


def test_code_insights_false_sends_nothing(scenario, emulator, proxy):
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    result = ecs.run(**with_proxy(proxy, IMAGE="repo/app:2", CONTAINER_NAME="app", CODE_INSIGHTS="false"))

    assert result.code == 0, result
    assert proxy.requests == []


def test_the_test_proxy_override_takes_only_loopback_addresses(scenario, emulator):
    result = scenario.run(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web",
                          **{TEST_PROXY_VARIABLE: "203.0.113.9:29418"})
    assert result.code == 2, result
    assert TEST_PROXY_VARIABLE in result.output and "loopback" in result.output


def test_the_secrets_scanner_reads_what_the_proxy_received(scenario, proxy):
    """The check above is not vacuous: a token in a report body or a header is found."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{proxy.address}"}))
    body = json.dumps({"title": "x", "details": f"token {scenario.token}"}).encode()
    request = urllib.request.Request(
        f"http://api.bitbucket.org{report_path(scenario, 'planted')}", data=body, method="PUT",
        headers={"Content-Type": "application/json"},
    )
    opener.open(request, timeout=10).read()
    assert proxy.requests[0]["url"].startswith("http://api.bitbucket.org/2.0/")
    with pytest.raises(AssertionError, match="secret leaked"):
        assert_no_secrets(scenario, proxy, scenario.env())
