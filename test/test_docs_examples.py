"""Every YAML example in README.md and docs/*.md runs (issue 24): a documented step that stopped
working is a bug every new user copies.

Each ```yaml block is read as Bitbucket would: its `pipe: aws-role-deploy/...` items run in order
against the emulator, with the block's variables exactly (lists flattened the way Bitbucket passes
them, `NAME_COUNT` and `NAME_0`...), plus what Bitbucket gives every step (`BITBUCKET_*`, the step's
OIDC token unless the block shows a step without `oidc: true`) and the test's plumbing
(`AWS_ENDPOINT_URL`, short retries, `DEBUG`). A `source …/aws-role-deploy.env` line makes the
outputs of the run before it available to the next, as in a real script.

What the text leaves to the reader is filled from the PLACEHOLDERS table below (the example
account and region, the OIDC role's ARN, `$BITBUCKET_COMMIT`, secured repository variables such as
`$DEPLOY_EXTERNAL_ID`, `<string>`), and the AWS resources an example names (cluster `prod` and its
services, function `api`, repository `team/my-app`, bucket `my-deploy-artifacts`, alarms...) are
created before it runs (World). Every run must exit 0, unless the block is marked
`<!-- example: expect exit N "text" -->` on the line before it: then its last run exits N and says
that text. An example that cannot run here says why, `<!-- example: not run: why -->`, and
NOT_RUN counts them so they cannot grow silently.

The pages' other checks (command lines, quoted messages, links) are in test_docs_pages.py.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import images
from emulator.ecr_scenario import OCI_MANIFEST, _manifest, _put
from emulator.ecs_scenario import ecs_fixture, register_task_definition_raw, task_definition_body
from emulator.lambda_scenario import make_zip
from emulator.scenario import client_for
from pipe import ACCOUNT, ECS_PACE_SCALE, OTHER_ACCOUNT, REGION

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUR_PIPE = "aws-role-deploy/aws-role-deploy:"
MARKER = re.compile(r"^<!-- example: (.*) -->$")
EXPECT = re.compile(r'^expect exit (\d+) "(.*)"$')
# Examples marked `not run`, each saying why. Lower it when one becomes runnable; raising it is a
# decision the diff shows.
NOT_RUN = 0

# What the text leaves to the reader, as the test fills it. Exact strings first (longest first),
# then the account ids and regions left anywhere in a value.
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_OTHER_ACCOUNT = "210987654321"
EXAMPLE_REGIONS = ("eu-west-1", "us-east-1")
PLACEHOLDER_STRINGS = {  # `<string>` of the YAML definition, by variable
    "ACTION": "assume-role",
    "AWS_DEFAULT_REGION": REGION,
}
SCAN_FINDINGS = [
    {"name": "CVE-2024-0001", "severity": "HIGH", "package": "openssl", "version": "3.0.2", "fixed_in": "3.0.13"},
    {"name": "CVE-2024-0002", "severity": "LOW", "package": "zlib", "version": "1.2.11"},
]


# ----------------------------------------------------------------------------------- the pages


@dataclass
class Example:
    page: str
    line: int
    text: str
    marker: str | None

    @property
    def id(self):
        return f"{self.page}:{self.line}"

    @property
    def not_run(self):
        return self.marker.removeprefix("not run:").strip() if self.marker and self.marker.startswith("not run:") else None

    @property
    def expected(self):
        """(exit code, text) of the last run."""
        match = EXPECT.match(self.marker or "")
        return (int(match.group(1)), match.group(2)) if match else (0, None)


def examples():
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        index = 0
        while index < len(lines):
            fence = lines[index]
            if fence.strip() != "```yaml":
                index += 1
                continue
            indent = len(fence) - len(fence.lstrip())
            end = index + 1
            while lines[end].strip() != "```":
                end += 1
            body = "\n".join(line[indent:] for line in lines[index + 1:end])
            before = lines[index - 1].strip() if index else ""
            marker = MARKER.match(before)
            found.append(Example(str(page.relative_to(ROOT)), index + 1, body, marker and marker.group(1)))
            index = end + 1
    return found


EXAMPLES = examples()


def steps_of(document, oidc=None):
    """The block's script in order: ("pipe", variables, oidc) and ("source",) items."""
    if isinstance(document, list):
        for item in document:
            if isinstance(item, str) and item.startswith("source ") and "aws-role-deploy.env" in item:
                yield ("source",)
            else:
                yield from steps_of(item, oidc)
    elif isinstance(document, dict):
        if "step" in document:
            step = document["step"]
            yield from steps_of(step.get("script", []), bool(step.get("oidc")))
        elif "pipe" in document:
            if str(document["pipe"]).startswith(OUR_PIPE):
                yield ("pipe", dict(document.get("variables") or {}), oidc)
        else:
            for value in document.values():
                yield from steps_of(value, oidc)


def pipes_of(example):
    return [step for step in steps_of(yaml.safe_load(example.text)) if step[0] == "pipe"]


# ----------------------------------------------------------------------------------- placeholders


def fill(value, repository_variables, exact, lenient=False):
    """One variable's value with the example's placeholders replaced. `lenient`: an output of an
    earlier run (`$AWS_ROLE_DEPLOY_IMAGE`) that is not there yet reads as empty."""
    def variable(match):
        name = match.group(1) or match.group(2)
        if lenient and name.startswith("AWS_ROLE_DEPLOY_") and name not in repository_variables:
            return ""
        assert name in repository_variables, (
            f"the example reads ${name}, which the test's table of repository variables does not know"
        )
        return repository_variables[name]

    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", variable, value)
    for example, ours in exact.items():
        value = value.replace(example, ours)
    value = value.replace(EXAMPLE_ACCOUNT, ACCOUNT).replace(EXAMPLE_OTHER_ACCOUNT, OTHER_ACCOUNT)
    for region in EXAMPLE_REGIONS:
        value = value.replace(region, REGION)
    return value


def flatten(variables, world, lenient=False):
    """The environment Bitbucket would give the pipe for these variables."""
    scenario, repository_variables, exact = world.scenario, world.repository_variables, world.exact
    env = {}
    for name, value in variables.items():
        if value == "<string>":
            value = scenario.role_arn if name == "AWS_OIDC_ROLE_ARN" else PLACEHOLDER_STRINGS[name]
        if isinstance(value, list):
            env[f"{name}_COUNT"] = str(len(value))
            for index, item in enumerate(value):
                env[f"{name}_{index}"] = fill(str(item), repository_variables, exact, lenient)
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        else:
            env[name] = fill(str(value), repository_variables, exact, lenient)
    return env


def values(env, name):
    if f"{name}_COUNT" in env:
        return [env[f"{name}_{index}"] for index in range(int(env[f"{name}_COUNT"]))]
    return env.get(name, "").split()


# ----------------------------------------------------------------------------------- the world


@dataclass
class World:
    """The account as the example's text supposes it, created before the example runs."""

    scenario: object
    emulator: object
    request: object
    repository_variables: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    exact: dict = field(default_factory=dict)
    built: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self):
        self.admin = self.scenario.user(name="docs-admin")
        self.repository_variables.update({
            "BITBUCKET_COMMIT": self.scenario.commit,
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(self.scenario.outputs_dir),
            "AWS_OIDC_ROLE_ARN": self.scenario.role_arn,
            "AWS_ACCESS_KEY_ID": self.admin["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.admin["secret_access_key"],
            "DEPLOY_EXTERNAL_ID": "docs-external-id-4711",
        })
        # The examples' OIDC role is the scenario's, which trusts this repository's steps.
        self.exact[f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/bitbucket-oidc"] = self.scenario.role_arn

    def client(self, service):
        return client_for(self.emulator, service, self.admin)

    def write(self, relative, data):
        path = self.scenario.clone_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())

    def prepare(self, env):
        action = env.get("ACTION")
        if env.get("AWS_ROLE_ARN"):
            self.chained_role(env)
        if action in ("ecs-deploy", "rollback") and env.get("CLUSTER_NAME"):
            self.ecs(env, rollback=action == "rollback")
        if action in ("lambda-deploy", "rollback") and env.get("FUNCTION_NAME"):
            self.function(env, rollback=action == "rollback")
        if action == "ecr-push":
            self.ecr(env)

    # -- authentication

    def chained_role(self, env):
        arn = env["AWS_ROLE_ARN"]
        account, name = arn.split(":")[4], arn.rsplit("/", 1)[1]
        trusted = None if env.get("AWS_OIDC_ROLE_ARN") else self.admin["arn"]
        self.scenario.chained_role(account=account, name=name, external_id=env.get("AWS_EXTERNAL_ID"),
                                   trusted=trusted)

    # -- ECS: a Fargate cluster with the services named, rollouts that complete

    def ecs(self, env, rollback):
        services = values(env, "SERVICE_NAME")
        if getattr(self, "cluster", None) == env["CLUSTER_NAME"]:
            return
        self.cluster = env["CLUSTER_NAME"]
        if env.get("CODEDEPLOY_APPLICATION"):
            # A blue/green service through CodeDeploy (docs/ecs-codedeploy.md), deployments that succeed.
            from emulator.codedeploy_scenario import codedeploy_fixture

            fixture = codedeploy_fixture(self.emulator, cluster=self.cluster, service=services[0],
                                         application=env["CODEDEPLOY_APPLICATION"],
                                         deployment_group=env.get("CODEDEPLOY_DEPLOYMENT_GROUP"))
            fixture.next_deployment(outcome="succeed")
            return
        fixture = ecs_fixture(self.emulator, cluster=self.cluster, services=services)
        ecs = fixture.client("ecs")
        if rollback:
            # Something to go back from: the services run a second revision.
            body = task_definition_body("web", image_tag="2")
            arn = register_task_definition_raw(ecs, body)["taskDefinition"]["taskDefinitionArn"]
            for service in services:
                ecs.update_service(cluster=self.cluster, service=service, taskDefinition=arn)
        for service in services:
            self.emulator.ecs_rollout(self.cluster, service, "complete")
        if env.get("RUN_TASK") == "true":
            self.emulator.ecs_run_task(containers=[{"name": env.get("CONTAINER_NAME", "app"), "exitCode": 0}])
        definition = env.get("TASK_DEFINITION", "")
        if definition.endswith(".json"):
            body = task_definition_body("web")
            body["containerDefinitions"][0]["image"] = "repo/web:${BITBUCKET_COMMIT}"
            self.write(definition, json.dumps(body, indent=2))

    # -- Lambda: the function, its package, its aliases and versions

    def function(self, env, rollback):
        from emulator.lambda_scenario import lambda_fixture

        name = env["FUNCTION_NAME"]
        image = bool(env.get("IMAGE_URI"))
        fixture = lambda_fixture(self.emulator, name=name, package="image" if image else "zip")
        lam = fixture.client("lambda")
        zip_file = env.get("ZIP_FILE")
        if zip_file and zip_file.endswith(".zip"):
            self.write(zip_file, make_zip({"app.py": "def handler(event, context):\n    return 2\n"}))
        elif zip_file:
            self.write(Path(zip_file) / "app.py", "def handler(event, context):\n    return 3\n")
        if env.get("FUNCTION_CONFIGURATION"):
            self.write(env["FUNCTION_CONFIGURATION"],
                       json.dumps({"MemorySize": 512, "Environment": {"Variables": {"STAGE": "prod"}}}))
        if env.get("S3_BUCKET"):
            s3 = fixture.client("s3")
            s3.create_bucket(Bucket=env["S3_BUCKET"])
            if not zip_file:
                s3.put_object(Bucket=env["S3_BUCKET"], Key=env["S3_KEY"], Body=make_zip())
        if image:
            self.image_in_ecr(env["IMAGE_URI"])
        alias = env.get("ALIAS")
        shifting = env.get("TRAFFIC_SHIFT", "AllAtOnce") != "AllAtOnce"
        if alias and (rollback or shifting or env.get("VERSION")):
            # The alias as after earlier deployments: on a published version, one before it.
            first = lam.publish_version(FunctionName=name, Description="one")["Version"]
            lam.update_function_configuration(FunctionName=name, Description="two")
            self.emulator_wait_updated(lam, name)
            second = lam.publish_version(FunctionName=name, Description="two")["Version"]
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=second if rollback else first)
            if env.get("VERSION"):
                # The example's version number stands for one the test published.
                self.versions[env["VERSION"]] = first if rollback else second
        if shifting:
            self.extra_env["AWS_ROLE_DEPLOY_TEST_TIME_SCALE"] = "600"
        for alarm in filter(None, env.get("ALARMS", "").split(",")):
            cloudwatch = fixture.client("cloudwatch")
            cloudwatch.put_metric_alarm(AlarmName=alarm, MetricName="Errors", Namespace="AWS/Lambda",
                                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                        ComparisonOperator="GreaterThanThreshold")
            cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")

    @staticmethod
    def emulator_wait_updated(lam, name):
        for _ in range(50):
            if lam.get_function_configuration(FunctionName=name).get("LastUpdateStatus") != "InProgress":
                return

    def image_in_ecr(self, uri):
        repository, tag = uri.split("/", 1)[1].rsplit(":", 1)
        ecr = self.client("ecr")
        ecr.create_repository(repositoryName=repository)
        _put(ecr, repository, _manifest("the function's image"), OCI_MANIFEST, tag)

    # -- ECR: the repository, an archive, the registry, a tag to promote, a scan

    def ecr(self, env):
        repository = env["ECR_REPOSITORY"]
        ecr = self.client("ecr")
        if env.get("CREATE_REPOSITORY") != "true":
            try:
                ecr.create_repository(repositoryName=repository)
            except ecr.exceptions.RepositoryAlreadyExistsException:
                pass
        if env.get("SOURCE_TAG"):
            _put(ecr, repository, _manifest("the tested image"), OCI_MANIFEST, env["SOURCE_TAG"])
        if env.get("IMAGE_NAME"):
            # What the script's `docker build -t <IMAGE_NAME> .` makes, under a name of this run's
            # own (the daemon is shared); the example's name stands for it.
            self.request.getfixturevalue("docker_engine")
            registry = self.request.getfixturevalue("ecr_registry")
            built = images.build_image(self.scenario.clone_dir.parent)
            self.built[env["IMAGE_NAME"]] = built
            tags = values(env, "TAGS") or ["latest"]
            self.request.addfinalizer(lambda: images.remove_images(
                built, *(f"{registry.host}/{repository}:{tag}" for tag in tags)))
        if env.get("IMAGE_ARCHIVE"):
            self.request.getfixturevalue("ecr_registry")
            archive = self.scenario.clone_dir / env["IMAGE_ARCHIVE"]
            archive.parent.mkdir(parents=True, exist_ok=True)
            if archive.suffix == ".tar":
                layout = self.scenario.clone_dir / "oci-layout-build"
                images.oci_layout(layout)
                images.tar_directory(layout, archive)
            else:
                images.oci_layout(archive)
        if env.get("SCAN_FAIL_ON"):
            self.emulator.ecr_scan(in_progress_polls=1, findings=SCAN_FINDINGS)
            # The scan moves a step a look: the looks sped up as test/pipe.py's do.
            self.extra_env.setdefault("AWS_ROLE_DEPLOY_TEST_TIME_SCALE", str(ECS_PACE_SCALE))


# ----------------------------------------------------------------------------------- the tests


def test_every_block_runs_something_or_says_why():
    """A block with no step of this pipe runs nothing, so it must say why; a marker is one of the
    two kinds; and the examples not run are counted."""
    problems = []
    for example in EXAMPLES:
        marker = example.marker
        if marker and not (marker.startswith("not run: ") or EXPECT.match(marker)):
            problems.append(f"{example.id}: unknown marker {marker!r}")
        if not example.not_run and not pipes_of(example):
            problems.append(f"{example.id}: no `pipe: {OUR_PIPE}…` step to run, and no `not run:` marker saying why")
    assert not problems, "\n".join(problems)
    not_run = [f"{example.id}: {example.not_run}" for example in EXAMPLES if example.not_run]
    assert len(not_run) == NOT_RUN, (
        f"{len(not_run)} examples are not run (NOT_RUN says {NOT_RUN}):\n" + "\n".join(not_run)
    )
    assert len(EXAMPLES) - len(not_run) >= 30, "the examples were not found"


def needs_docker(example):
    """An example that pushes from the step's Docker daemon runs where there is one (test/run
    deselects tests marked docker without it; CI requires it)."""
    return any("IMAGE_NAME" in step[1] for step in pipes_of(example))


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, marks=[pytest.mark.docker] if needs_docker(e) else []) for e in EXAMPLES if not e.not_run],
    ids=lambda e: e.id,
)
def test_example_runs_against_the_emulator(example, scenario, emulator, request):
    world = World(scenario, emulator, request)
    steps = list(steps_of(yaml.safe_load(example.text)))
    runs = [flatten(step[1], world, lenient=True) for step in steps if step[0] == "pipe"]
    for env in runs:
        world.prepare(env)
    code, text = example.expected
    results = []
    run_index = 0
    for step in steps:
        if step[0] == "source":
            assert results, f"{example.id}: `source` before any run"
            world.repository_variables.update(results[-1].outputs_env or {})
            continue
        variables, oidc = step[1], step[2]
        env = scenario.base_env()
        for name in ("ACTION", "AWS_DEFAULT_REGION", "AWS_OIDC_ROLE_ARN"):
            del env[name]
        if oidc is False:
            del env["BITBUCKET_STEP_OIDC_TOKEN"]
        given = flatten(variables, world)
        if given.get("VERSION") in world.versions:
            given["VERSION"] = world.versions[given["VERSION"]]
        if given.get("IMAGE_NAME") in world.built:
            given["IMAGE_NAME"] = world.built[given["IMAGE_NAME"]]
        env.update(given)
        env.update(world.extra_env)
        result = scenario.run_env(env, timeout=120)
        results.append(result)
        run_index += 1
        last = run_index == len(runs)
        if last and code:
            assert result.code == code, f"{example.id}: expected exit {code}\n{result}"
            assert text in result.output, f"{example.id}: expected {text!r} in the output\n{result}"
        else:
            assert result.code == 0, f"{example.id}: the example does not work\n{result}"

