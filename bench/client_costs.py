"""What each AWS client costs in the binary (issue 23), measured with `cargo bloat` on a release
build made as scripts/build-image makes it (static, LTO, opt-level z) but with its symbols kept
(the shipped binary is stripped, and has none to attribute). It builds in target/bloat, so it does
not disturb the image's build; the first time is a whole release build (minutes), later ones
rebuild what changed.

Every function of the .text section is given to the first group whose crate it belongs to, or
whose types its name mentions (a generic instantiated over `aws_sdk_ecs::types::Service` is ECS's
cost even when it lives in `core`). LTO inlines across crates, so the attribution is approximate:
code inlined into a caller counts for the caller.

Entry point for bench/bench.py: `client_costs(smoke) -> (rows, markdown)`.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from report import Row

ROOT = Path(__file__).resolve().parent.parent
TARGET = "x86_64-unknown-linux-gnu"
OWN = "aws_role_deploy"


def _sdk(crate):
    return lambda function: function.get("crate") == crate or f"{crate}::" in function["name"]


def _own(word):
    return lambda function: function.get("crate") == OWN and word in function["name"]


def _crates(*prefixes):
    return lambda function: (function.get("crate") or "").startswith(prefixes)


# (group, how to recognise its functions, is it one client's own cost)
GROUPS = [
    ("STS (AWS SDK)", _sdk("aws_sdk_sts"), True),
    ("ECS (AWS SDK)", _sdk("aws_sdk_ecs"), True),
    ("ECR API (AWS SDK)", _sdk("aws_sdk_ecr"), True),
    ("Lambda (AWS SDK)", _sdk("aws_sdk_lambda"), True),
    ("S3 (AWS SDK)", _sdk("aws_sdk_s3"), True),
    ("CloudWatch (signed by hand)", _own("cloudwatch"), True),
    ("CodeDeploy (signed by hand)", _own("codedeploy"), True),
    ("JSON signed by hand, shared by CloudWatch and CodeDeploy (json_rpc)", _own("json_rpc"), False),
    ("ECR registry push (the pipe's own, on hyper)", _own("::actions::ecr::"), True),
    ("Code Insights report (Bitbucket, the pipe's own, plain TCP)", _own("::insights::"), True),
    ("the rest of the pipe's own code", _crates(OWN), False),
    ("SDK runtime, shared by the SDK clients (smithy, sigv4, aws-config, aws-runtime)",
     _crates("aws_smithy", "aws_runtime", "aws_sigv4", "aws_config", "aws_types", "aws_credential_types"), False),
    ("TLS (rustls, aws-lc)", _crates("rustls", "aws_lc", "webpki", "untrusted"), False),
    ("HTTP and async runtime (hyper, tokio, http, tower)", _crates("hyper", "tokio", "http", "h2", "tower", "mio"), False),
    ("Rust's standard library", _crates("std", "core", "alloc"), False),
    ("everything else (serde, zip, tracing…)", lambda function: True, False),
]
# The largest functions shown for each row: where a client's cost goes.
TOP = 3
# Whether each client costs more than it should, read from its row and its largest functions in
# one run (cargo bloat's JSON, functions summed by name), written down here because it is a
# judgement; the table above it is each run's own.
VERDICTS = [
    "Whether each client costs more than it should, read from a run of 2026-12-07 (main at 5d57456:",
    "STS 88 KiB, ECS 489, Lambda 360, ECR API 272, S3 221, registry push 195, Code Insights 26,",
    "CodeDeploy 20 plus 13 shared with CloudWatch; .text 6.3 MB of a 16.4 MB unstripped file):",
    "",
    "- **S3: yes.** The pipe makes one call, PutObject of a Lambda package, yet 91 KiB of the",
    "  221 are S3's endpoint rules (`resolve_endpoint` alone 73 KiB: access points, Outposts,",
    "  Object Lambda, Express) and 18 KiB S3 Express session credentials, none of which an upload",
    "  to a plain bucket uses. A PutObject signed by hand, as CodeDeploy's calls are (20 + 13 KiB),",
    "  would save most of it; not done while the image holds its 5 MB.",
    "- **Lambda: somewhat.** 91 KiB are deserialisers, largely one per operation of the same",
    "  `FunctionConfiguration` shape (GetFunction 17.8, the shape 15.7, PublishVersion 15.4 KiB):",
    "  the SDK's generated code repeats it for each operation that returns it.",
    "- **ECR API: somewhat.** 95 KiB are the scan's findings (the enhanced, Inspector-shaped",
    "  findings' deserialiser 35.8 KiB, DescribeImageScanFindings' 25.2 KiB) of which the pipe",
    "  reads seven fields (id or title, severity, package, version, fixed-in, description, URL).",
    "- **ECS: as its use asks.** Half (246 KiB) is the code of its types (builders, Clone, Debug)",
    "  for the large shapes the pipe reads and writes (Service, TaskDefinition, ContainerDefinition,",
    "  ServiceDeployment; `Service::clone` 12.8 KiB); only hand-written JSON would cut it.",
    "- **STS, CodeDeploy, CloudWatch, Code Insights, registry push: no.** STS is its two",
    "  operations and its partition table; CloudWatch's calls are inlined into their callers",
    "  (LTO) and sit in the shared JSON row; the registry push's largest piece is one future",
    "  with its steps inlined (`ecr::run`, 84 KiB).",
    "- **Shared, not one client's:** every SDK carries its own partition table (7.3 KiB each, 46",
    "  KiB in all); HTTP/2 (h2, 180 KiB) comes with the SDK's default HTTPS client; Rust's",
    "  backtrace symboliser (gimli, addr2line: 168 KiB) stays although panics abort; TLS is",
    "  723 KiB (aws-lc 419, rustls 249). Whether h2 can be left out, and what each would save",
    "  compressed, was not measured.",
]


LOG = ROOT / "target" / "bloat" / "cargo-bloat.log"


def _bloat():
    """cargo bloat's report as a dict, or None and what failed. Only stdout is parsed: cargo-bloat
    runs cargo build twice with stderr passed through (its progress: "Compiling ..."), then prints
    its JSON as the one line of stdout. stderr goes to LOG, to be read when it fails."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target" / "bloat"),
           "RUSTFLAGS": "-C target-feature=+crt-static", "CARGO_PROFILE_RELEASE_STRIP": "false"}
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "w") as log:
        done = subprocess.run(["cargo", "bloat", "--release", "--locked", "--target", TARGET, "-n", "0",
                               "--message-format", "json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=log, text=True)
    if done.returncode:
        how = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        return None, f"{how}: {_first_error(LOG.read_text())}; the whole output is in {LOG.relative_to(ROOT)}"
    for line in reversed(done.stdout.splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and {"functions", "text-section-size", "file-size"} <= report.keys():
            return report, None
    return None, f"its stdout held no report ({len(done.stdout)} characters; stderr in {LOG.relative_to(ROOT)})"


def _first_error(stderr):
    """The line of cargo's or cargo-bloat's output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error"):
            return line
    return lines[-1] if lines else "no output"


def client_costs(smoke):
    """(rows, markdown) of the "What each client costs" section."""
    if smoke:
        return [], "Not measured in smoke mode: it needs a release build of its own (`bench/run` makes it)."
    if shutil.which("cargo-bloat") is None:
        return [], ("Not measured: `cargo bloat` is not installed (`scripts/dev-setup --bench` installs the "
                    "pinned version; `bench/run` calls it).")
    started = time.monotonic()
    report, failure = _bloat()
    if report is None:  # every other figure of the run is still worth writing
        return [], f"Not measured: `cargo bloat` failed ({failure})."
    return _section(report, time.monotonic() - started)


def _section(report, seconds):
    sizes = {name: 0 for name, _, _ in GROUPS}
    members = {name: [] for name, _, _ in GROUPS}
    for function in report["functions"]:
        name = next(name for name, matches, _ in GROUPS if matches(function))
        sizes[name] += function["size"]
        members[name].append(function)
    text = report["text-section-size"]
    lines = ["| | .text KiB | share of .text | its largest functions (KiB) |", "| --- | --- | --- | --- |"]
    for name, _, own in GROUPS:
        label = name if own else f"*{name}*"
        largest = sorted(members[name], key=lambda function: -function["size"])[:TOP]
        top = "; ".join(f"`{_short(function['name'])}` {function['size'] / 1024:.1f}" for function in largest)
        lines.append(f"| {label} | {sizes[name] / 1024:.0f} | {sizes[name] / text:.1%} | {top} |")
    lines.append(f"| **.text in all** (of a {report['file-size'] / 1e6:.1f} MB unstripped file) | "
                 f"{text / 1024:.0f} | 100% | |")
    markdown = "\n".join([
        "`cargo bloat` of a release build made as the image's (static, LTO, opt-level z), symbols kept",
        f"(target/bloat; {seconds:.0f} s in this run, a whole release build when nothing was built",
        "there yet); each function of .text goes to the first row whose crate it is in or whose types",
        "it names. Rows in italics are shared by every client, not one client's cost. LTO inlines",
        "across crates, so this is approximate: inlined code counts for its caller. The image holds",
        "the stripped binary, gzip-compressed when pulled.",
        "",
        *lines,
        "",
        *VERDICTS,
    ])
    clients = [(name, sizes[name]) for name, _, own in GROUPS if own]
    rows = [Row("Size", "binary .text, by client (cargo bloat)",
                ", ".join(f"{name.split(' (')[0]} {size / 1024:.0f} KiB" for name, size in clients))]
    return rows, markdown


def _short(name, most=70):
    """A function's name without its crate path's noise, cut to fit a table cell."""
    name = name.replace("|", "\\|")
    return name if len(name) <= most else name[: most - 1] + "…"


if __name__ == "__main__":
    # bench/client_costs.py: this section alone (a release build in target/bloat).
    found, text = client_costs(smoke=False)
    print(text)
