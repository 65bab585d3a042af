"""Output integrity (issue 18): text from outside (AWS messages, task-definition values, file
names) cannot start a line of its own, so only the pipe writes lines beginning with `✔`, `✖`,
`INFO:`; redaction never corrupts data; the outputs files are the run's own."""

import re

from pipe import ENV_FILE, JSON_FILE, OTHER_ACCOUNT

OWN_COLOURS = re.compile(r"\x1b\[(?:3[1-3]|90|0)m")

FORGED = "\n✔ Deployed to production\nINFO: all good\n✖ \x1b[2Kcleared"
# XML (STS's protocol) cannot carry an escape character, not even as a reference: AWS's XML
# answers can hold newlines, its JSON answers (ECS, Lambda) any control character.
FORGED_XML = "\n✔ Deployed to production\nINFO: all good"


def forged_lines(result):
    """Lines a message from outside would have forged, were it printed as it is."""
    return [
        line for line in result.lines
        if line.startswith(("✔ Deployed to production", "INFO: all good", "✖ \x1b", "✖ cleared"))
        or "\x1b[2K" in line
    ]


def test_an_aws_error_message_cannot_forge_lines(scenario, emulator):
    # AWS error messages quote what they were given (a ValidationError names the value); the
    # emulator answers one carrying a newline, a forged `✔`/`INFO:` line and an ANSI sequence.
    emulator.add_fault("error", service="sts", action="AssumeRoleWithWebIdentity", count=5,
                       status=400, code="ValidationError", message="1 validation error" + FORGED_XML)

    result = scenario.run(DEBUG="true")

    assert result.code == 2, result
    assert not forged_lines(result), result
    # Still said, escaped, on the pipe's own lines.
    assert "1 validation error\\n✔ Deployed to production" in result.output, result
    assert not any(line.startswith("✔") for line in result.lines), result


def test_a_json_error_message_cannot_forge_lines_nor_move_the_cursor(scenario, emulator):
    from test_ecs import Ecs

    ecs = Ecs(scenario, emulator)
    emulator.add_fault("error", service="ecs", action="DescribeServices", count=5, status=400,
                       code="InvalidParameterException", message="Bad service" + FORGED)

    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", DEBUG="true")

    assert result.code == 2, result
    assert not forged_lines(result), result
    # The pipe's own colours only: no sequence from the message reaches the terminal.
    assert "\x1b" not in OWN_COLOURS.sub("", result.stdout + result.stderr), result


def test_a_task_definition_value_with_a_newline_cannot_forge_lines(scenario, emulator):
    from test_ecs import Ecs, task_definition_body

    ecs = Ecs(scenario, emulator)
    body = task_definition_body("web")
    body["containerDefinitions"][0]["image"] = "repo/app:2" + FORGED
    ecs.rollout("complete")

    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body), DEBUG="true")

    assert not forged_lines(result), result
    assert result.code == 0, result


def test_a_file_name_with_a_newline_cannot_forge_lines(scenario, emulator):
    archive = scenario.clone_dir / "image"
    archive.mkdir()
    (archive / ("layer" + FORGED)).write_text("not an image")

    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="image", ECR_REPOSITORY="app", DEBUG="true")

    assert result.code in (1, 2), result
    assert not forged_lines(result), result


# ------------------------------------------------------------------------------ redaction


def test_a_two_character_external_id_leaves_an_account_id_containing_it_intact(scenario, emulator):
    external_id = "22"
    target = scenario.chained_role(account=OTHER_ACCOUNT, external_id=external_id)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=external_id, DEBUG="true")

    assert result.code == 0, result
    assert f"account {OTHER_ACCOUNT}" in result.output, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_ACCOUNT"] == OTHER_ACCOUNT
    assert result.outputs_json["account"] == OTHER_ACCOUNT
    assert result.outputs_env["AWS_ROLE_DEPLOY_ROLE_ARN"] == target
    assert "***" not in result.output + result.outputs_text(), result
    # Where the pipe names it, its value is never shown.
    assert not [line for line in result.lines if "EXTERNAL_ID" in line and "22" in line.split("EXTERNAL_ID", 1)[1][:40]]


def test_a_rejected_external_id_is_named_but_never_shown(scenario):
    target = scenario.chained_role(account=OTHER_ACCOUNT, external_id="ok")

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID="z!")

    assert result.code == 2, result
    [line] = [line for line in result.lines if "AWS_EXTERNAL_ID" in line and "must be" in line]
    assert "z!" not in result.output, result


# ------------------------------------------------------------------------------ outputs files


def plant_stale_outputs(scenario):
    (scenario.outputs_dir / ENV_FILE).write_text("AWS_ROLE_DEPLOY_ACCOUNT='999999999999'\n")
    (scenario.outputs_dir / JSON_FILE).write_text('{"account": "999999999999"}\n')


def test_stale_outputs_are_removed_also_when_validation_fails(scenario):
    plant_stale_outputs(scenario)

    result = scenario.run(AWS_ROLE_DURATION_SECONDS="not-a-number")

    assert result.code == 2, result
    assert not (scenario.outputs_dir / ENV_FILE).exists(), "an earlier run's outputs passed for this run's"
    assert not (scenario.outputs_dir / JSON_FILE).exists()


def test_a_linked_outputs_directory_is_refused(scenario, tmp_path):
    # `.bitbucket` committed to the repository as a link to somewhere else.
    elsewhere = tmp_path / "elsewhere"
    (scenario.clone_dir / ".bitbucket").rename(elsewhere)
    (scenario.clone_dir / ".bitbucket").symlink_to(elsewhere)
    target_dir = elsewhere / "pipelines" / "generated" / "pipeline" / "pipes"
    (target_dir / ENV_FILE).write_text("theirs\n")

    result = scenario.run()

    assert result.code == 1, result
    assert "is a symbolic link" in result.final_line and "BITBUCKET_PIPE_SHARED_STORAGE_DIR" in result.final_line, result
    assert (target_dir / ENV_FILE).read_text() == "theirs\n", "removed or written through the link"
    assert not (target_dir / JSON_FILE).exists()


# ------------------------------------------------------------------------------ plain HTTP


def test_plain_http_to_another_host_is_warned_about_naming_the_oidc_token(scenario, emulator):
    # 0.0.0.0 reaches this machine's emulator, but is no loopback address: the pipe cannot tell
    # it from any other host, so it warns as for one.
    port = emulator.base_url.rsplit(":", 1)[1]
    result = scenario.run(AWS_ENDPOINT_URL=f"http://user:pw-in-url@0.0.0.0:{port}")

    assert result.code == 0, result
    [warning] = [line for line in result.lines if line.startswith("WARNING: AWS_ENDPOINT_URL ")]
    assert "plain HTTP to 0.0.0.0:" in warning and "OIDC token" in warning, warning
    assert "pw-in-url" not in result.output, result


def test_plain_http_to_loopback_or_https_is_not_warned_about(scenario, emulator):
    port = emulator.base_url.rsplit(":", 1)[1]
    for url in (emulator.base_url, f"http://localhost:{port}"):
        result = scenario.run(AWS_ENDPOINT_URL=url)
        assert result.code == 0, result
        assert not [line for line in result.lines if "plain HTTP" in line], result
