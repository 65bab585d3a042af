"""Variables as users write them (issue 19): a near miss of one of the pipe's names, or a name of
Atlassian's aws-ecs-deploy / aws-lambda-deploy / aws-ecr-push-image pipes, is refused with the
name meant before any AWS call; a missing ACTION names the action the other variables point to;
the environment Bitbucket and the image provide is never refused.

Each refusal is checked against the emulator's request log: not one request, of any kind."""

import pytest

from emulator.ecs_scenario import task_definition_body
from emulator.lambda_scenario import make_zip
from test_ecs import Ecs
from test_lambda import Lambda


def entries(result):
    """The validation block's entries, as {variable: message}."""
    found = {}
    for line in result.lines:
        if line.startswith("  - "):
            variable, message = line[4:].split(": ", 1)
            found[variable] = message
    return found


def refused_without_a_call(result, emulator):
    assert result.code == 2, result
    assert result.lines.count("✖ Validation errors:") == 1, result
    assert emulator.requests() == [], "a refused step made AWS calls"
    return entries(result)


ECS = {"ACTION": "ecs-deploy", "CLUSTER_NAME": "prod", "SERVICE_NAME": "web", "FORCE_NEW_DEPLOYMENT": "true"}
LAMBDA = {"ACTION": "lambda-deploy", "FUNCTION_NAME": "api", "S3_BUCKET": "artifacts", "S3_KEY": "api.zip"}
ECR = {"ACTION": "ecr-push", "IMAGE_NAME": "my-app"}


@pytest.mark.parametrize(
    "step, name, value, meant",
    [
        (ECS, "DRYRUN", "true", "DRY_RUN"),
        (ECS, "dry_run", "true", "DRY_RUN"),
        (ECS, "WAIT_TIMOUT", "1800", "WAIT_TIMEOUT"),
        (ECS, "SERVICE_NAMES", "web api", "SERVICE_NAME"),
        (ECS, "FORCE_NEW_DEPLOYEMENT", "true", "FORCE_NEW_DEPLOYMENT"),
        (ECS, "CLUSTER", "prod", "CLUSTER_NAME"),
        (LAMBDA, "ALIASS", "live", "ALIAS"),
        (LAMBDA, "PUBLSH", "false", "PUBLISH"),
        (LAMBDA, "FUNCTION_CONFIG", "config.json", "FUNCTION_CONFIGURATION"),
        (ECR, "TAG", "v1", "TAGS"),
        (ECR, "ECR_REPO", "team/app", "ECR_REPOSITORY"),
        ({"ACTION": "assume-role"}, "AWS_DEFAULT_REGOIN", "eu-west-1", "AWS_DEFAULT_REGION"),
        ({"ACTION": "assume-role"}, "AWS_ROLE_SESION_NAME", "deploy", "AWS_ROLE_SESSION_NAME"),
        ({"ACTION": "assume-role"}, "ALLOWED_ACCOUNT_ID", "123456789012", "ALLOWED_ACCOUNT_IDS"),
        ({"ACTION": "trust-policy"}, "POLICY_ACTION", "ecs-deploy", "POLICY_ACTIONS"),
    ],
)
def test_a_near_miss_is_refused_with_the_name_meant(scenario, emulator, step, name, value, meant):
    result = scenario.run(**step, **{name: value})

    found = refused_without_a_call(result, emulator)
    assert name in found, result
    assert f"did you mean {meant}?" in found[name], result
    assert value not in found[name], "the value is never quoted back (it may be secret)"


def test_a_mistyped_yaml_list_is_refused_once_by_its_name(scenario, emulator):
    step = {**ECS, "SERVICE_NAME": None, "SERVICE_NAMES_COUNT": "2", "SERVICE_NAMES_0": "web", "SERVICE_NAMES_1": "api"}
    result = scenario.run(**step)

    found = refused_without_a_call(result, emulator)
    assert "SERVICE_NAMES_0" not in found and "SERVICE_NAMES_COUNT" not in found, result
    assert "did you mean SERVICE_NAME?" in found["SERVICE_NAMES"], result


@pytest.mark.parametrize(
    "step, name, value, says",
    [
        (LAMBDA, "PUBLISH_FLAG", "false", "is what Atlassian's aws-lambda-deploy pipe calls PUBLISH: rename it to PUBLISH"),
        (LAMBDA, "COMMAND", "update", 'here that is ACTION: "lambda-deploy", which updates the code'),
        (LAMBDA, "COMMAND", "alias", 'ACTION: "lambda-deploy" with ALIAS and VERSION (and no code source), which moves'),
        (LAMBDA, "WAIT_INTERVAL", "10", "no equivalent here (the pipe polls AWS with its own backoff"),
        (ECS, "COMMAND", "python manage.py migrate", "the command of the one-off task is RUN_TASK_COMMAND"),
        (ECS, "WAIT_INTERVAL", "10", "nothing this step reads uses it, as a ${WAIT_INTERVAL} placeholder say"),
    ],
)
def test_an_atlassian_name_is_refused_naming_ours(scenario, emulator, step, name, value, says):
    result = scenario.run(**step, **{name: value})

    found = refused_without_a_call(result, emulator)
    assert list(found) == [name], result
    assert says in found[name], result


# ------------------------------------------------------------------ Atlassian's steps, unchanged


def atlassian_keys(scenario):
    """Atlassian's README steps authenticate with keys (OIDC is their option)."""
    user = scenario.user()
    return {
        "AWS_OIDC_ROLE_ARN": None,
        "AWS_ACCESS_KEY_ID": user["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": user["secret_access_key"],
    }


def test_atlassian_ecs_step_unchanged_names_ecs_deploy(scenario, emulator):
    result = scenario.run(
        ACTION=None,
        **atlassian_keys(scenario),
        CLUSTER_NAME="prod",
        SERVICE_NAME="web",
        TASK_DEFINITION="task-definition.json",
        FORCE_NEW_DEPLOYMENT="true",
        WAIT="true",
    )

    found = refused_without_a_call(result, emulator)
    assert found == {"ACTION": 'is required: CLUSTER_NAME is set, so this step looks like ACTION: "ecs-deploy"'}, result
    assert result.final_line.endswith("Fix the variables above: ACTION"), result


def test_atlassian_lambda_update_step_unchanged_names_lambda_deploy(scenario, emulator):
    result = scenario.run(
        ACTION=None,
        **atlassian_keys(scenario),
        FUNCTION_NAME="my-function",
        COMMAND="update",
        ZIP_FILE="my-function.zip",
        PUBLISH_FLAG="false",
    )

    found = refused_without_a_call(result, emulator)
    assert set(found) == {"ACTION", "COMMAND", "PUBLISH_FLAG"}, result
    assert 'FUNCTION_NAME is set, so this step looks like ACTION: "lambda-deploy"' in found["ACTION"]
    assert 'ACTION: "lambda-deploy"' in found["COMMAND"]
    assert "rename it to PUBLISH" in found["PUBLISH_FLAG"]


def test_atlassian_lambda_alias_step_unchanged_says_alias_and_version_do_it(scenario, emulator):
    result = scenario.run(
        ACTION=None,
        FUNCTION_NAME="my-function",
        COMMAND="alias",
        ALIAS="production",
        VERSION="3",
    )

    found = refused_without_a_call(result, emulator)
    assert set(found) == {"ACTION", "COMMAND"}, result  # VERSION is ours too (issue 20)
    assert 'ACTION: "lambda-deploy"' in found["ACTION"]
    assert "with ALIAS and VERSION" in found["COMMAND"]


def test_atlassian_ecr_step_unchanged_names_ecr_push(scenario, emulator):
    result = scenario.run(ACTION=None, **atlassian_keys(scenario), IMAGE_NAME="my-app", TAGS="latest 1.0.0")

    found = refused_without_a_call(result, emulator)
    assert found == {"ACTION": 'is required: IMAGE_NAME is set, so this step looks like ACTION: "ecr-push"'}, result


def test_variables_of_two_actions_ask_which_one(scenario, emulator):
    result = scenario.run(ACTION=None, CLUSTER_NAME="prod", FUNCTION_NAME="api")

    found = refused_without_a_call(result, emulator)
    assert 'CLUSTER_NAME to "ecs-deploy", FUNCTION_NAME to "lambda-deploy"' in found["ACTION"], result


def test_oidc_role_without_oidc_true_is_an_error_not_a_fallback_to_keys(scenario, emulator):
    """Atlassian's pipes use the keys when the step has no `oidc: true`; this pipe says so instead
    of deploying with credentials the user meant to retire."""
    step = {**atlassian_keys(scenario), "AWS_OIDC_ROLE_ARN": scenario.role_arn, "BITBUCKET_STEP_OIDC_TOKEN": None}
    result = scenario.run(**step)

    found = refused_without_a_call(result, emulator)
    assert "oidc: true" in found["AWS_OIDC_ROLE_ARN"], result


def test_atlassian_ecs_step_with_action_added_deploys(scenario, emulator):
    """The one change the refusal asks for is enough; a `${VERSION}` placeholder of the task
    definition is the user's variable, not Atlassian's VERSION."""
    ecs = Ecs(scenario, emulator)
    ecs.rollout("complete")
    body = task_definition_body()
    body["containerDefinitions"][0]["image"] = "repo/app:${VERSION}"
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body), FORCE_NEW_DEPLOYMENT="true", WAIT="true", VERSION="42")

    assert result.code == 0, result
    [register] = ecs.calls("RegisterTaskDefinition")
    assert register["params"]["containerDefinitions"][0]["image"] == "repo/app:42"


def test_atlassian_lambda_steps_become_one_step_that_deploys(scenario, emulator):
    """The migration guide's before and after (docs/coming-from-atlassian.md): their `update` step and `alias` step are one step here, and
    the version it published is in the outputs where their `aws-lambda-deploy-env` had it."""
    fn = Lambda(scenario, emulator)
    package = make_zip({"app.py": "def handler(e, c):\n    return 200\n"})
    result = fn.run(ZIP_FILE=fn.write("my-function.zip", package), ALIAS="production")

    assert result.code == 0, result
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert result.outputs_json["version"] == version
    alias = fn.boto.get_alias(FunctionName="api", Name="production")
    assert alias["FunctionVersion"] == version


# ------------------------------------------------------------------ what the runtime provides


def bitbucket_environment(scenario):
    """What a Bitbucket step (cloud or self-hosted runner) gives a pipe besides its variables:
    the agent's BITBUCKET_* context, the container's and the image's variables, a runner's proxy
    settings and AWS SDK settings."""
    return {
        "BITBUCKET_REPO_OWNER": "acme",
        "BITBUCKET_REPO_OWNER_UUID": "{11111111-2222-3333-4444-555555555555}",
        "BITBUCKET_PROJECT_KEY": "PROJ",
        "BITBUCKET_PROJECT_UUID": "{66666666-7777-8888-9999-000000000000}",
        "BITBUCKET_STEP_TRIGGERER_UUID": "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}",
        "BITBUCKET_PARALLEL_STEP": "0",
        "BITBUCKET_PARALLEL_STEP_COUNT": "1",
        "BITBUCKET_DOCKER_HOST_INTERNAL": "10.0.0.1",
        "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/acme/web-app",
        "BITBUCKET_GIT_SSH_ORIGIN": "git@bitbucket.org:acme/web-app.git",
        "BITBUCKET_SSH_KEY_FILE": "/opt/atlassian/pipelines/agent/ssh/id_rsa",
        "BITBUCKET_PIPE_STORAGE_DIR": str(scenario.clone_dir / ".bitbucket/pipelines/generated/pipeline/pipes/own"),
        "BITBUCKET_PR_ID": "17",
        "BITBUCKET_PR_DESTINATION_BRANCH": "main",
        "BITBUCKET_EXIT_CODE": "0",
        "BITBUCKET_DEPLOYMENT_ENVIRONMENT": "production",
        "BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID": "{12121212-3434-5656-7878-909090909090}",
        "PIPELINES_JWT_TOKEN": "not-a-secret-in-this-test",
        "CI": "true",
        "DOCKER_HOST": "tcp://host.docker.internal:2375",
        "HOME": "/root",
        "HOSTNAME": "4f2a9c1b7e3d",
        "PWD": "/opt/atlassian/pipelines/agent/build",
        "SHLVL": "1",
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SSL_CERT_DIR": "/etc/ssl/certs",
        "https_proxy": "http://proxy.invalid:3128",
        "no_proxy": "localhost,127.0.0.1",
        "NO_PROXY": "localhost,127.0.0.1",
        "AWS_PROFILE": "default",
        "AWS_RETRY_MODE": "standard",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SDK_UA_APP_ID": "bitbucket",
        "RUST_BACKTRACE": "1",
    }


def test_the_environment_bitbucket_provides_is_never_refused(scenario, emulator):
    result = scenario.run(**bitbucket_environment(scenario))

    assert result.code == 0, result
    assert emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")


def test_unknown_names_unlike_ours_are_left_alone(scenario, emulator):
    """A variable close to none of the pipe's names may feed a template another run reads: left
    alone."""
    result = scenario.run(APP_NAME="web", ENVIRONMENT="prod", IMAGE_TAG="1.2.3", NAME="x")

    assert result.code == 0, result
