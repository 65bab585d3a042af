"""Try every action against the local emulator, as a Bitbucket step would run the pipe: the
image (or, with --binary, the debug binary: the quick mode the test suite runs), the clone
directory, the BITBUCKET_* variables and the step's OIDC token. Prints what a Bitbucket log
would show, one section per pipe call:

  1. trust-policy: the AWS side of this repository's keyless setup, generated from the step;
  2. assume-role: the step's token → role deploy;
  3. assume-role chained into a role in a second account, with an ExternalId;
  4. ecs-deploy: a new revision rolled out to a service, with progress and ECS's events;
  5. rollback: that service back to the revision it ran before, as ECS recorded it;
  6. lambda-deploy: new code, a published version, and an alias moved to it;
  7. rollback: that alias back to the version before;
  8. lambda-deploy with TRAFFIC_SHIFT and ALARMS: a linear shift of new code, 10% a minute, watched
     by a CloudWatch alarm that goes off at 30% (the emulator's alarm scenario): the alias goes
     back to the old version with no weights and the step fails naming the alarm (exit code 1).
     The holds are shortened 1:60 for the try-out (AWS_ROLE_DEPLOY_TEST_TIME_SCALE, accepted only
     against a loopback endpoint), so the minute-long steps take a second each;
  9. ecr-push: an image archive (an OCI layout tar, made here: nothing is pulled) pushed to a
     local registry, the one the tests use (Debian's docker-registry, test/registry.py), which the
     emulator's GetAuthorizationToken names with its real credentials;
  10. ecr-push: that image promoted to another tag without moving any bytes;
  11. ecr-push with SCAN_FAIL_ON: HIGH, stopped by a HIGH finding of ECR's scan (the emulator's
     scan scenario: enhanced scanning, not there yet, pending, then two findings, a step a look,
     so the looks are sped up 1:10 as the tests do); this call is meant to fail (exit code 1), and
     the tags stay pushed.

After each deployment, the stopped canary and the scan-gated push, the Code Insights report it left on the commit, as a fake Bitbucket
authentication proxy (test/insights.py) received it: on port 29418, where the image finds it through
its hosts file as in Bitbucket; the quick mode points the binary at a free port instead.

The registry is required: when it cannot start, the ecr-push sections say why and the try-out
fails (exit code 1); nothing is skipped.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test"))

import images  # noqa: E402
import registry as test_registry  # noqa: E402
from bitbucket import SocketForward, docker_runner  # noqa: E402
from emulator.client import Emulator, running_emulator  # noqa: E402
from emulator.ecs_scenario import ecs_fixture  # noqa: E402
from emulator.lambda_scenario import lambda_fixture, make_zip  # noqa: E402
from insights import TEST_PROXY_VARIABLE, FakeInsightsProxy  # noqa: E402
from pipe import Scenario, run_binary  # noqa: E402

BOLD, RESET = "\x1b[1m", "\x1b[0m"


def show(title, result, variables):
    print(f"\n{BOLD}=== {title} ==={RESET}")
    print("  pipe: aws-role-deploy   variables: " + ", ".join(f"{k}={v}" for k, v in variables.items()))
    print(result.output.rstrip())
    print(f"  (exit code {result.code})")
    if result.env_file and result.env_file.exists():
        print(f"--- {result.env_file.name}, for later script lines ---")
        print(result.env_file.read_text().rstrip())


def show_report(proxy):
    """The last report the fake proxy received, as Bitbucket would show it on the commit."""
    if proxy is None or not proxy.requests:
        print("--- no Code Insights report received ---")
        return
    put = [r for r in proxy.requests if r["method"] == "PUT"][-1]
    report = put["body"]
    print(f"--- Code Insights report on the commit: PUT {put['url']} ---")
    print(f"  {report['title']}: {report['result']}")
    for field in report["data"]:
        value = field["value"]
        if field["type"] == "LINK":
            value = f"{value['text']} <{value['href']}>"
        elif field["type"] == "DURATION":
            value = f"{value} ms"
        print(f"  {field['title']}: {value}")
    annotations = proxy.annotations.get(put["path"].rsplit("/", 1)[1], [])
    for annotation in annotations[:5]:
        print(f"  [{annotation['severity']}] {annotation['summary']}")
    if len(annotations) > 5:
        print(f"  ... {len(annotations) - 5} more annotations")
    proxy.requests.clear()


def start_proxy(image_mode):
    """The fake authentication proxy: on 29418 for the image (its hosts file names 127.0.0.1), on a
    free port for the binary (named by the test-only variable)."""
    try:
        return FakeInsightsProxy(port=29418 if image_mode else 0).__enter__()
    except OSError as busy:
        print(f"NOTE: port 29418 is taken ({busy}): the Code Insights reports are not shown")
        return None


def main():
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--image", help="the image to run, as Bitbucket runs a pipe")
    where.add_argument("--binary", help="quick mode: run this binary instead of an image")
    parser.add_argument("variables", nargs="*", metavar="VAR=value", help="extra pipe variables")
    args = parser.parse_args()
    extra = dict(pair.split("=", 1) for pair in args.variables)

    codes, expected = [], []
    with running_emulator() as base_url, tempfile.TemporaryDirectory() as tmp:
        # The step's daemon on a free port (2375 may be held by a test suite on this machine).
        forward = SocketForward(port=0) if args.image else None
        registry = None
        proxy = start_proxy(bool(args.image))
        try:
            emulator = Emulator(base_url)
            emulator.reset()
            if args.image:
                ssh_dir = Path(tmp) / "ssh"
                ssh_dir.mkdir()
                runner = docker_runner(args.image, ssh_dir, forward.port)
            else:
                binary = str(Path(args.binary).resolve())
                runner = lambda env, **kw: run_binary(env, binary=binary, **kw)  # noqa: E731
            step = Scenario(emulator, tmp, runner=runner)
            # Readable like a Bitbucket log: DEBUG off unless asked for.
            extra.setdefault("DEBUG", "false")
            if proxy is not None and not args.image:
                extra.setdefault(TEST_PROXY_VARIABLE, proxy.address)

            def call(title, expect=0, **variables):
                result = step.run(**{**variables, **extra})
                shown = {k: v for k, v in variables.items() if k not in ("AWS_EXTERNAL_ID",)}
                show(title, result, shown)
                codes.append(result.code)
                expected.append(expect)
                return result

            call("1. trust-policy: the AWS side of this repository, generated from the step",
                 ACTION="trust-policy", POLICY_ACTIONS="ecs-deploy lambda-deploy ecr-push", CLUSTER_NAME="prod",
                 SERVICE_NAME="web", FUNCTION_NAME="api", ECR_REPOSITORY="team/web", CREATE_REPOSITORY="true")
            call("2. assume-role: the step's OIDC token → role deploy", ACTION="assume-role")
            target = step.chained_role(external_id="try-external-id")
            call("3. assume-role: → role deploy → role target in a second account, with an ExternalId",
                 ACTION="assume-role", AWS_ROLE_ARN=target, AWS_EXTERNAL_ID="try-external-id")

            ecs_fixture(emulator, cluster="prod", services=("web",))
            emulator.ecs_rollout("prod", "web", "complete", polls=3, events=[
                "(service web) has started 2 tasks: (task 1a2b) (task 3c4d).",
                "(service web) registered 2 targets in (target-group web-tg)",
                "(service web) has reached a steady state.",
            ])
            call("4. ecs-deploy: a new image rolled out to service web", ACTION="ecs-deploy",
                 CLUSTER_NAME="prod", SERVICE_NAME="web", IMAGE="registry.example/web:42", CONTAINER_NAME="app",
                 WAIT_TIMEOUT="300")
            show_report(proxy)
            emulator.ecs_rollout("prod", "web", "complete", polls=2)
            call("5. rollback: service web back to the revision it ran before", ACTION="rollback",
                 CLUSTER_NAME="prod", SERVICE_NAME="web", WAIT_TIMEOUT="300")
            show_report(proxy)

            api = lambda_fixture(emulator, name="api", publish=True)  # version 1, what ran before
            (step.clone_dir / "api.zip").write_bytes(
                make_zip({"app.py": "def handler(event, context):\n    return {'statusCode': 200}\n"}))
            call("6. lambda-deploy: new code, version published, alias live moved", ACTION="lambda-deploy",
                 FUNCTION_NAME="api", ZIP_FILE="api.zip", ALIAS="live", WAIT_TIMEOUT="300")
            show_report(proxy)
            call("7. rollback: alias live back to the version before", ACTION="rollback",
                 FUNCTION_NAME="api", ALIAS="live", WAIT_TIMEOUT="300")
            show_report(proxy)

            # The canary's alarm: OK as the shift starts, in ALARM once the alias sends 30%.
            cloudwatch = api.client("cloudwatch")
            cloudwatch.put_metric_alarm(
                AlarmName="api-errors", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=60,
                EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                Dimensions=[{"Name": "FunctionName", "Value": "api"}, {"Name": "Resource", "Value": "api:live"}])
            cloudwatch.set_alarm_state(AlarmName="api-errors", StateValue="OK", StateReason="No errors")
            emulator.alarm_goes_off("api-errors", after_update_alias=3, reason=(
                "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (07/12/26 15:03:00)] was greater than "
                "the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."))
            (step.clone_dir / "api.zip").write_bytes(
                make_zip({"app.py": "def handler(event, context):\n    raise RuntimeError('new bug')\n"}))
            call("8. lambda-deploy: a linear shift stopped by an alarm, alias put back (meant to fail)", expect=1,
                 ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="api.zip", ALIAS="live",
                 TRAFFIC_SHIFT="Linear10PercentEvery1Minute", ALARMS="api-errors", WAIT_TIMEOUT="900",
                 AWS_ROLE_DEPLOY_TEST_TIME_SCALE="60")
            show_report(proxy)

            # The registry ECR's token points at: started as the tests start it, on a free loopback
            # port (the image runs with --network=host, as bitbucket.py explains).
            registry_dir = Path(tmp) / "registry"
            registry_dir.mkdir()
            try:
                registry = test_registry.start_registry(registry_dir)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as failed:
                print(f"\n{BOLD}=== 9. ecr-push: FAILED, the local registry did not start ==={RESET}")
                print(f"  {failed}")
                print("  The ecr-push sections need Debian's docker-registry and htpasswd: run scripts/dev-setup.")
                codes.append(1)
                expected.append(0)
            else:
                emulator.ecr_registry(registry.endpoint, registry.password)
                images.oci_layout(Path(tmp) / "layout", layer_sizes=(2048,))
                images.tar_directory(Path(tmp) / "layout", step.clone_dir / "web-image.tar")
                call("9. ecr-push: an image archive from an earlier step, pushed without a Docker daemon",
                     ACTION="ecr-push", IMAGE_ARCHIVE="web-image.tar", ECR_REPOSITORY="team/web",
                     TAGS=f"sha-{step.commit[:7]} latest", CREATE_REPOSITORY="true")
                call("10. ecr-push: that image promoted to prod, no bytes moved", ACTION="ecr-push",
                     SOURCE_TAG=f"sha-{step.commit[:7]}", ECR_REPOSITORY="team/web", TAGS="prod")

                emulator.ecr_scan(kind="enhanced", not_found_polls=1, in_progress_polls=2, findings=[
                    {"name": "CVE-2024-2511", "severity": "HIGH", "package": "openssl", "version": "3.0.2",
                     "fixed_in": "3.0.13"},
                    {"name": "CVE-2023-45853", "severity": "LOW", "package": "zlib", "version": "1.2.13"},
                ])
                images.oci_layout(Path(tmp) / "api-layout", layer_sizes=(4096,))
                images.tar_directory(Path(tmp) / "api-layout", step.clone_dir / "api-image.tar")
                call("11. ecr-push with SCAN_FAIL_ON: HIGH, stopped by a HIGH finding (meant to fail)", expect=1,
                     ACTION="ecr-push", IMAGE_ARCHIVE="api-image.tar", ECR_REPOSITORY="team/api",
                     TAGS=f"sha-{step.commit[:7]}", CREATE_REPOSITORY="true", SCAN_ON_PUSH="true",
                     SCAN_FAIL_ON="HIGH", WAIT_TIMEOUT="120", AWS_ROLE_DEPLOY_TEST_TIME_SCALE="10")
                show_report(proxy)
        finally:
            if proxy:
                proxy.__exit__(None, None, None)
            if forward:
                forward.close()
            if registry:
                registry.stop()
    print(f"\nExit codes: {codes}" + (f" (expected {expected})" if codes != expected else ""))
    sys.exit(0 if codes == expected else 1)


if __name__ == "__main__":
    main()
