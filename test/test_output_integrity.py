"""Output integrity (issue 18): text from outside (AWS messages, task-definition values, file
names) cannot start a line of its own, so only the pipe writes lines beginning with `✔`, `✖`,
`INFO:`; redaction never corrupts data; the outputs files are the run's own."""

import re

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
