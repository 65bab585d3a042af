"""The documentation pages tell the truth beside their YAML examples (test_docs_examples.py): the
`docker run` command lines of the ```sh blocks run with the binary, the messages
docs/troubleshooting.md quotes are in the source, and links between the pages resolve (issue 24).
"""

import re
import shlex
import subprocess

from pipe import BINARY
from test_docs_examples import OUR_PIPE, PAGES, ROOT


# ----------------------------------------------------------------------------------- troubleshooting


def source_text():
    """Every string the pipe can print, as its source spells it: continued lines joined,
    escaped quotes unescaped."""
    text = "".join(path.read_text() for path in sorted((ROOT / "src").rglob("*.rs")))
    return re.sub(r"\\\n\s*", "", text).replace('\\"', '"')


def test_troubleshooting_quotes_what_the_pipe_says():
    """docs/troubleshooting.md's tables quote the pipe's messages (first column, in backticks,
    `…` where the pipe puts a value): each quoted piece is in the source, so a reworded message
    fails here until the page says it as the pipe does. A leading `VARIABLE: ` is how a validation
    error prefixes its message."""
    source = source_text()
    missing = []
    for line in (ROOT / "docs" / "troubleshooting.md").read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        first = line[2:].split(" | ")[0]
        for quoted in re.findall(r"`([^`]+)`", first):
            quoted = re.sub(r"^[A-Z][A-Z0-9_]+: ", "", quoted)
            for piece in (piece.strip() for piece in quoted.split("…")):
                if len(piece) >= 10 and piece not in source:
                    missing.append(piece)
    assert not missing, "docs/troubleshooting.md quotes messages the pipe does not print:\n" + "\n".join(missing)


# ----------------------------------------------------------------------------------- links


def anchor(heading):
    """The anchor a heading gets (GitHub's rule, which the pages' links follow)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lstrip("#").strip().lower())
    return text.replace(" ", "-")


def test_every_link_between_the_pages_resolves():
    """A relative link names a file that exists and, after `#`, a heading of it: moving a section
    cannot strand the links to it."""
    headings = {
        page: {anchor(line) for line in page.read_text().splitlines() if line.startswith("#")}
        for page in PAGES
    }
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, fragment = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and resolved in headings and fragment not in headings[resolved]:
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


# ----------------------------------------------------------------------------------- commands


def image_commands():
    """Every `docker run … aws-role-deploy/aws-role-deploy:<version> …` of a ```sh block, as the
    arguments after the image (the binary's own command line), output redirection left out."""
    found = []
    for page in PAGES:
        for block in re.findall(r"^ *```sh\n(.*?)^ *```", page.read_text(), re.S | re.M):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                words = shlex.split(line)
                images_named = [i for i, word in enumerate(words) if word.startswith(OUR_PIPE)]
                if words[:2] == ["docker", "run"] and images_named:
                    arguments = words[images_named[0] + 1:]
                    if ">" in arguments:
                        arguments = arguments[:arguments.index(">")]
                    found.append((f"{page.relative_to(ROOT)}", arguments))
    return found


def test_the_image_commands_shown_run():
    """The trust-policy command line the five-minute setup shows works as written (the binary
    is the image's entrypoint; no AWS call is made)."""
    commands = image_commands()
    assert commands, "the five-minute setup shows a `docker run` of the image"
    for page, arguments in commands:
        done = subprocess.run([str(BINARY), *arguments], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, f"{page}: {' '.join(arguments)}\n{done.stdout}\n{done.stderr}"
        if "--format" in arguments and arguments[arguments.index("--format") + 1] == "cloudformation":
            assert "AWS::IAM::Role" in done.stdout, done.stdout


# ----------------------------------------------------------------------------------- exit codes


def test_the_exit_code_tables_list_the_codes_the_pipe_has():
    """The README's and docs/outputs.md's exit code tables list exactly 0 and the codes
    `Error::exit_code` gives (src/error.rs), so a new code cannot go undocumented."""
    source = (ROOT / "src" / "error.rs").read_text()
    body = source[source.index("pub fn exit_code"):]
    body = body[:body.index("\n    }\n")]
    codes = {0} | {int(code) for code in re.findall(r"=> (\d+),", body)}
    for page in (ROOT / "README.md", ROOT / "docs" / "outputs.md"):
        text = page.read_text()
        table = text[text.index("| Exit code | Meaning |"):]
        rows = re.findall(r"^\| (\d+) \|", table.split("\n\n")[0], re.M)
        assert {int(code) for code in rows} == codes, f"{page.relative_to(ROOT)}: {rows} against {sorted(codes)}"
