"""Task definitions as users have them, from public repositories (test/corpus/ecs/, sources in
its SOURCES.md), each run through `ecs-deploy` against the emulator with a service to update.

A file the pipe accepts must reach RegisterTaskDefinition as written: every settable field
unchanged, only what the pipe documents taken out (ECS's read-only fields, `null`s, an empty
`tags` list, tags AWS reserves), `${VAR}` filled where the test gives the variables, images
replaced only where the test asks. The body is compared with what the emulator's request log
recorded, exactly as sent. A file the pipe refuses exits 2 naming the variable and what is wrong,
before any change. The expectation of each file is written below, with why.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.ecs import READ_ONLY_FIELDS, reserved_tags
from emulator.ecs_task_definitions import null_paths, without_nulls
from test_ecs import Ecs, assert_nothing_changed

CORPUS = Path(__file__).parent / "corpus" / "ecs"


@dataclass
class Accepted:
    why: str
    env: dict = field(default_factory=dict)  # variables for the file's `${VAR}` placeholders
    images: dict = field(default_factory=dict)  # container -> image, passed as IMAGES
    notes: tuple = ()  # words of the notes the run must print (read-only fields, nulls)


@dataclass
class Refused:
    why: str
    says: tuple  # what the refusal must name


EXPECTED = {
    # FireLens (Fluent Bit sidecar routing the app's logs), EC2 and Fargate.
    "firelens-s3.json": Accepted("FireLens to S3, EC2 bridge networking, memory reservations"),
    "firelens-config-file.json": Accepted("FireLens with a config file baked into the router image"),
    "firelens-healthcheck-tcp.json": Accepted("FireLens router with a container health check"),
    "firelens-newrelic.json": Accepted("FireLens on Fargate, secret API key in secretOptions"),
    "firelens-splitting-streams.json": Accepted("FireLens on Fargate, two log streams"),
    "firelens-datadog-placeholders.json": Accepted(
        "CloudFormation-style ${Partition}/${Region}/... in a secret ARN, filled from the step's variables",
        env={"Partition": "aws", "Region": "us-east-1", "Account": "111111111111", "SecretId": "datadog-api-key"},
    ),
    "firelens-elastic-cloud.json": Refused(
        "the same ${...} placeholders with no variable to fill them: named, nothing sent",
        ("TASK_DEFINITION", "${Partition} is not defined in the environment"),
    ),
    "firelens-dynatrace-invalid.json": Refused(
        "not JSON in its repository either (a missing comma): the parse error names the line",
        ("TASK_DEFINITION", "line 34"),
    ),
    # describe-task-definition output with its `taskDefinition` wrapper.
    "firelens-efs-described.json": Accepted(
        "the `taskDefinition` wrapper of describe output around a request body: EFS volume with IAM "
        "authorization, FireLens config from it",
    ),
    "ecspresso-td-described.json": Accepted(
        "ecspresso's fixture of describe output: App Mesh proxyConfiguration; its empty `tags` list is "
        "not sent (ECS refuses an empty list: aws-actions/amazon-ecs-deploy-task-definition#52)",
    ),
    "ecspresso-td-in-tags.json": Accepted(
        "describe output with `tags` inside the wrapper, `status`/`revision` dropped",
        notes=("dropped the read-only fields", "revision", "status"),
    ),
    # The same without the wrapper.
    "ecspresso-td-plain-in-tags.json": Accepted(
        "a task definition as describe prints it inside the wrapper, read-only fields dropped",
        notes=("dropped the read-only fields", "revision", "status"),
    ),
    # Old-console exports: read-only fields and a `null` for every field left empty.
    "console-export-coralogix-nulls.json": Accepted(
        "console export: FireLens to Coralogix, read-only fields and nulls (requiresAttributes' too) dropped",
        notes=("dropped the read-only fields", "taskDefinitionArn", "null value(s)",
               "containerDefinitions[0].user", "containerDefinitions[1].firelensConfiguration.options"),
    ),
    "console-export-ec2-nulls.json": Accepted(
        "console export of an EC2 task: nginx sidecar linked to the app, `networkMode`/`cpu`/`memory` null",
        notes=("dropped the read-only fields", "null value(s)", "networkMode", "containerDefinitions[1].secrets"),
    ),
    # Placeholder templates of other tools: data to this pipe.
    "ecspresso-template-ec2.json": Accepted(
        "ecspresso template: `{{ tfstate ... }}` image replaced by IMAGES; `{{ env ... }}` in a value is "
        "not this pipe's syntax and goes as written",
        images={"app": "111111111111.dkr.ecr.us-east-1.amazonaws.com/app:2"},
    ),
    "ecspresso-arm64-template.json": Accepted(
        "ecspresso template for ARM64 (runtimePlatform) with `{{ must_env ... }}` in role ARNs, image replaced",
        images={"django": "111111111111.dkr.ecr.us-east-1.amazonaws.com/django:2"},
    ),
    "ecspresso-ci-ebs.jsonnet": Refused(
        "Jsonnet (an EBS volume configured at launch): not JSON, the pipe evaluates no Jsonnet",
        ("TASK_DEFINITION", "not valid JSON"),
    ),
    "appmesh-colorteller-jq-template.json": Refused(
        "App Mesh walkthrough template for jq (`\"family\": $NAME`): not JSON until jq fills it",
        ("TASK_DEFINITION", "line 2"),
    ),
    # Others.
    "appmesh-firelens-colorteller.json": Accepted(
        "App Mesh: proxyConfiguration, Envoy sidecar, dependsOn HEALTHY, FireLens"),
    "ecspresso-daemon-secrets.json": Accepted("EC2 host networking, secrets from SSM and Secrets Manager"),
    "fargate-devops-demo.json": Accepted("a plain Fargate task definition"),
}


def test_every_file_of_the_corpus_has_an_expectation_and_a_source():
    files = sorted(path.name for path in CORPUS.iterdir() if path.name != "SOURCES.md")
    assert files == sorted(EXPECTED), "a file without an expectation, or an expectation without a file"
    sources = (CORPUS / "SOURCES.md").read_text()
    for name in files:
        assert f"`{name}`" in sources, f"{name} has no source in SOURCES.md"
    assert len(files) >= 20


def filled(value, env):
    """The pipe's `${VAR}` substitution in string values (`$${` is a literal `${`)."""
    if isinstance(value, dict):
        return {key: filled(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, env) for item in value]
    if isinstance(value, str):
        return re.sub(r"\$\$\{|\$\{(\w+)\}", lambda m: "${" if m.group(1) is None else env[m.group(1)], value)
    return value


def expected_body(document, expectation):
    """What RegisterTaskDefinition must receive: the file minus what the pipe documents dropping."""
    document = without_nulls(filled(document, expectation.env))
    if isinstance(document.get("taskDefinition"), dict):
        body = dict(document["taskDefinition"])
        if document.get("tags"):
            body["tags"] = document["tags"]
    else:
        body = dict(document)
    for read_only in READ_ONLY_FIELDS:
        body.pop(read_only, None)
    reserved = reserved_tags(body.get("tags"))
    tags = [tag for tag in body.get("tags") or [] if tag not in reserved]
    if tags:
        body["tags"] = tags
    else:
        body.pop("tags", None)
    for container in body["containerDefinitions"]:
        if container["name"] in expectation.images:
            container["image"] = expectation.images[container["name"]]
    return body


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(scenario, emulator, name):
    expectation = EXPECTED[name]
    ecs = Ecs(scenario, emulator)
    (scenario.clone_dir / name).write_bytes((CORPUS / name).read_bytes())
    variables = {"TASK_DEFINITION": name, "WAIT": "false", **getattr(expectation, "env", {})}
    if getattr(expectation, "images", None):
        variables["IMAGES"] = " ".join(f"{container}={image}" for container, image in expectation.images.items())
    result = ecs.run(**variables)

    if isinstance(expectation, Refused):
        assert result.code == 2, result
        problems = [line.strip() for line in result.lines if line.strip().startswith("- ")]
        assert problems and all(p.startswith("- TASK_DEFINITION: ") for p in problems), (
            f"the file's problems only, no second misleading one: {problems}")
        for words in expectation.says:
            assert any(words in problem for problem in problems), f"{words!r} not in {problems}"
        assert_nothing_changed(ecs)
        return

    assert result.code == 0, result
    document = json.loads((CORPUS / name).read_text())
    [register] = ecs.calls("RegisterTaskDefinition")
    assert "scenario" not in register, f"the emulator saw what the pipe must not send: {register['scenario']}"
    assert register["params"] == expected_body(document, expectation)
    [update] = ecs.calls("UpdateService")
    assert update["params"]["taskDefinition"].endswith(f":task-definition/{register['params']['family']}:1")
    nulls = null_paths(filled(document, expectation.env))
    null_notes = [line for line in result.lines if "null value(s)" in line]
    assert len(null_notes) == (1 if nulls else 0), result
    if nulls:
        assert f"dropped {len(nulls)} null value(s)" in null_notes[0]
    for words in expectation.notes:
        assert words in result.output, f"{words!r} not said\n{result}"
