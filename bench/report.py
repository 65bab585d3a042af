"""BENCHMARKS.md: method, machine, the tables, and how to rerun — written from one run's rows."""

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    section: str
    name: str
    value: str
    target: str = "-"
    ok: bool | None = None  # None: reported, no target
    # Why a missed target was missed, from this run's own measurement (the module that measured
    # it knows); None: bench.py's MISSED, or `unexplained`.
    why: str | None = None

    @property
    def mark(self):
        return {True: "✔", False: "✖", None: " "}[self.ok]


def _command(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unavailable"


def machine():
    """What the numbers were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    venv = ROOT / ".venv" / "bin"
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        ("Memory", f"{int(memory) / 1024 / 1024:.0f} GiB"),
        ("Kernel", platform.release()),
        # Other work on the machine while the figures were taken (1, 5 and 15 minutes).
        ("Load average when written", " / ".join(Path("/proc/loadavg").read_text().split()[:3])),
        ("Docker Engine", _command(["docker", "version", "--format", "{{.Server.Version}}"])),
        ("Rust", _command(["rustc", "--version"])),
        ("Python", platform.python_version()),
        # Versions as installed (`aws --version` prints a botocore version of its own making).
        ("AWS CLI", _command([str(venv / "python"), "-c", "import awscli; print(awscli.__version__)"])),
        ("boto3 / botocore", _command([str(venv / "python"), "-c",
                                       "import boto3, botocore; print(boto3.__version__, botocore.__version__)"])),
    ]


def unexplained(row):
    """The "Targets missed" text of a miss that nothing explains: what this run measured, and that
    the cause was not measured. Never a placeholder: the reader learns what is known and what is not."""
    return (f"measured {row.value} against {row.target}. What causes the gap was not measured in this "
            "run (no profile, smaps or request-log breakdown of it): unexplained.")


def print_rows(rows):
    width = max(len(row.name) for row in rows)
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            print(f"\n{section}")
        print(f"{row.mark} {row.name:<{width}}  {row.value:<30} target {row.target}")


def _table(headers, lines):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in lines]
    return "\n".join(out)


def write_markdown(path, rows, tools, scaling, notes, smoke, runs, sections=()):
    """The whole BENCHMARKS.md. `tools`: side-by-side Tool objects; `scaling`: a dict per service
    count (bench/keepalive.py); `notes`: explanations of missed targets; `sections`: (heading,
    markdown) of further sections, in order."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        f"Measured by `bench/run` on {now}{' (SMOKE MODE: tiny sizes, one run; not figures to quote)' if smoke else ''}.",
        "Every number comes from this one run on this machine, against the same local emulator",
        "(moto plus the project's layer, on loopback). Ratios are taken within the run, so they",
        "compare like with like; absolute times move with the machine.",
        "",
        "## Machine",
        "",
        _table(["", ""], machine()),
        "",
        "## Targets",
        "",
        _table(["", "measure", "measured", "target"],
               [(row.mark, row.name, row.value, row.target) for row in rows]),
        "",
        "## A deploy, side by side",
        "",
        f"`assume-role` (OIDC token → role) plus an ECS deploy (register the task-definition file,",
        f"update the service, no wait); median of {runs} runs, min–max in brackets. AWS calls are",
        "counted from the emulator's request log. The AWS CLI is v1 from PyPI: v2 is not on PyPI",
        "and nothing else can be installed here; v2 starts faster than v1 but is still a Python",
        "program started three times.",
        "",
        _table(["tool", "wall ms", "wall ms without the emulator's handling", "peak RSS MB", "AWS calls"], [
            (tool.name, _spread(tool.stat("wall_ms"), "{:.0f}"), _spread(tool.stat("own_ms"), "{:.0f}"),
             _spread(tool.stat("rss_mb"), "{:.1f}"), _spread(tool.stat("calls"), "{:.0f}"))
            for tool in tools
        ]),
        "",
        "The second column takes out the time the emulator spent on each request (its request",
        "log records it): that share is the same work for every tool, and real AWS replaces it",
        "with its own latency (tens of ms a call), which shrinks every ratio on real AWS.",
        "",
        "## CPU per AWS call",
        "",
        "ecs-deploy of an image change to N services, each rolling out and followed to the end;",
        "median of the runs. CPU is the pipe's user + system time (the emulator's request handling",
        "and the waits between polls are not in it); calls and connections are counted from the",
        "emulator's request log. The emulator keeps connections alive between requests, as AWS",
        "does, so a call on an open connection costs no TCP set-up. The start-up is paid once",
        "whatever the number of services, so it is measured apart: the same run, stopped at the",
        "first bytes of its first request (a listener that never answers). Per call is the run's",
        "CPU with that start-up taken out, over its calls; what is left of fixed costs (clients",
        "built after the first call, the outputs files) still counts, which is why per call falls",
        "with more services. The marginal row under Targets takes those out as well.",
        "",
        _table(["services", "pipe CPU ms", "of which user / system", "before the first call ms", "AWS calls",
                "CPU per call ms, start-up taken out", "connections", "wall ms"],
               [(line["services"], f"{line['cpu']:.1f}", f"{line['user']:.1f} / {line['system']:.1f}",
                 f"{line['before']:.1f}", f"{line['calls']:.0f}", f"{line['per_call']:.2f}",
                 f"{line['connections']:.0f}", f"{line['wall']:.0f}") for line in scaling]),
        "",
    ]
    from waiting import section as waiting_section  # bench/waiting.py: its own section

    parts += waiting_section()
    for heading, text in sections or ():
        parts += [f"## {heading}", "", text, ""]
    if notes:
        parts += ["## Targets missed, and why", ""]
        parts += [f"- **{name}**: {text}" for name, text in notes]
        parts.append("")
    parts += [
        "## Method",
        "",
        "- Start-up: a loopback listener timestamps the first byte of the pipe's first request",
        "  (STS); the clock starts just before the process is spawned.",
        "- Peak RSS: GNU time's maximum resident set of the measured process, spawned by GNU time",
        "  (measured from Python, a vforked child would carry the interpreter's peak).",
        "- Image size: `docker image inspect` (uncompressed); compressed is gzip -6 of",
        "  `docker save`, about what a registry stores and a runner pulls.",
        "- Waiting, staged: an ECS-native blue/green deployment that never ends, watched until",
        "  WAIT_TIMEOUT. Unlike the frontier's rolling rollouts, each look also reads ECS's service",
        "  deployment (the stages are there alone), and a wait without an end shows the budget's",
        "  steady pace. Calls are the DescribeServices and DescribeServiceDeployments in the",
        "  emulator's request log, from the first UpdateService to the pipe's exit.",
        "- The pipe runs with `DEBUG=false`, the alternatives with their defaults.",
        "",
        "## Rerun",
        "",
        "```sh",
        "bench/run             # builds the release image, measures, rewrites BENCHMARKS.md; then a",
        "                      # release build with symbols (target/bloat) for What each client costs",
        "bench/run --smoke     # the release image, then tiny sizes and one run (about 3 minutes); the",
        "                      # test suite runs its measuring part (test/test_bench.py) so it never rots",
        "```",
        "",
    ]
    Path(path).write_text("\n".join(parts))


def _spread(stat, fmt):
    if stat is None:
        return "n/a"
    median, low, high = stat
    return f"{fmt.format(median)} ({fmt.format(low)}–{fmt.format(high)})"
