"""The benchmark: the pipe side by side with what users run instead, in one run on this machine,
against one local emulator. Prints the figures, writes BENCHMARKS.md, and exits 1 when a target
is missed (never in --smoke mode, which only proves the script still works).

    bench/run [--smoke] [--runs N] [--output PATH]

Timings are reported here, never asserted in tests: machines are noisy.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import keepalive  # noqa: E402
import measures  # noqa: E402
import side_by_side  # noqa: E402
import waiting  # noqa: E402
import waiting_codedeploy  # noqa: E402
import waiting_lambda  # noqa: E402
import waiting_scan  # noqa: E402
from measures import Emulator, running_emulator  # noqa: E402
from report import Row, print_rows, unexplained, write_markdown  # noqa: E402

# The issues' targets (13, held by 23), and the older ones still promised. The CPU per AWS call
# (issue 23, ≤ 0.2 ms) is bench/keepalive.py's.
TARGETS = {
    "image_mb": 15.0,
    "image_gz_mb": 5.0,
    "startup_ms": 5.0,
    "faster_than_boto3": 10.0,
    "faster_than_cli": 40.0,
    "deploy_rss_mb": 10.0,
    "zip_vs_info_zip": 1.5,
}

# Sizes: the real run, and the smoke run the test suite makes.
FULL = {"runs": 10, "startup_runs": 20, "services": (1, 10, 50), "lambda_mb": 50, "wait_s": 60,
        "ecr_layer_mb": 50, "ecr_rounds": 3, "step_rounds": 5}
SMOKE = {"runs": 1, "startup_runs": 3, "services": (1, 3, 5), "lambda_mb": 2, "wait_s": 4,
         "ecr_layer_mb": 1, "ecr_rounds": 1, "step_rounds": 1}



def size_rows(args):
    rows = []
    static = measures.is_static(args.binary)
    rows.append(Row("Size", "binary is static", "yes" if static else "NO", "yes", static))
    rows.append(Row("Size", "binary", f"{os.path.getsize(args.binary) / 1e6:.1f} MB"))
    if args.image:
        size = measures.image_size_mb(args.image)
        rows.append(Row("Size", "image, uncompressed", f"{size:.1f} MB", f"≤ {TARGETS['image_mb']} MB",
                        size <= TARGETS["image_mb"]))
        packed = measures.compressed_image_mb(args.image)
        rows.append(Row("Size", "image, compressed (gzip of docker save)", f"{packed:.1f} MB",
                        f"≤ {TARGETS['image_gz_mb']} MB (Atlassian's ECS pipe: ~68.5 MB)",
                        packed <= TARGETS["image_gz_mb"]))
    return rows


def startup_rows(args, sizes):
    median, worst = measures.startup_ms(args.binary, sizes["startup_runs"])
    return [Row("Start-up", f"start → first AWS request (median of {sizes['startup_runs']})",
                f"{median:.1f} ms (worst {worst:.1f})", f"≤ {TARGETS['startup_ms']} ms",
                median <= TARGETS["startup_ms"])]


def side_by_side_rows(tools):
    by_name = {tool.name[:3]: tool for tool in tools}
    pipe_ms = by_name["(a)"].stat("wall_ms")[0]
    pipe_own = by_name["(a)"].stat("own_ms")[0]
    rows = []
    for key, target_name, label in (("(d)", "faster_than_boto3", "boto3 script"),
                                    ("(c)", "faster_than_cli", "AWS CLI v1")):
        ratio = by_name[key].stat("wall_ms")[0] / pipe_ms
        target = TARGETS[target_name]
        rows.append(Row("A deploy, side by side", f"assume + deploy: {label} wall / pipe wall",
                        f"{ratio:.1f}× ({by_name[key].stat('wall_ms')[0]:.0f} vs {pipe_ms:.0f} ms)",
                        f"≥ {target:.0f}×", ratio >= target))
        own = by_name[key].stat("own_ms")[0] / pipe_own
        rows.append(Row("A deploy, side by side", f"assume + deploy: {label} / pipe, the emulator's handling taken out",
                        f"{own:.1f}× ({by_name[key].stat('own_ms')[0]:.0f} vs {pipe_own:.0f} ms)"))
    rss = by_name["(a)"].stat("rss_mb")[2]
    rows.append(Row("A deploy, side by side", "assume + deploy: pipe peak RSS (worst run)", f"{rss:.1f} MB",
                    f"≤ {TARGETS['deploy_rss_mb']:.0f} MB (boto3 {by_name['(d)'].stat('rss_mb')[0]:.0f}, "
                    f"CLI {by_name['(c)'].stat('rss_mb')[0]:.0f})", rss <= TARGETS["deploy_rss_mb"]))
    if "(b)" in by_name:
        overhead = by_name["(b)"].stat("wall_ms")[0] - pipe_ms
        rows.append(Row("A deploy, side by side", "assume + deploy: docker run overhead over the binary",
                        f"{overhead:.0f} ms"))
    return rows


def staged_waiting_rows(base_url, args, sizes):
    """The watch of a staged (ECS-native blue/green) deployment that never ends, up to a
    `wait_s` time-out: what "Waiting on the frontier" does not measure. Its rollouts are rolling
    and end; a staged one reads ECS's service deployment at every look (its stages are there
    alone, src/actions/ecs/pace.rs), and a wait that never ends shows the budget's steady pace
    rather than the calls saved before an end. Held to issue 23's budget (15 calls a minute for
    one service, 20 for ten)."""
    seconds = sizes["wait_s"]
    out = []
    for count, budget in ((1, 15), (10, 20)):
        services = ["web"] if count == 1 else [f"svc{i}" for i in range(count)]
        looks, waited = measures.staged_wait_looks(args.binary, base_url, services, seconds)
        calls = sum(n for _, n in looks)
        rate = calls / waited * 60
        what = f"{count} service{'s' if count > 1 else ''}"
        out.append(Row("Waiting, staged", f"ECS calls per minute, blue/green deployment stuck for {seconds} s, {what}",
                       f"{rate:.1f} ({calls} calls in {len(looks)} looks)", f"≤ {budget}", rate <= budget,
                       why=_staged_why(looks, waited, budget)))
    return out


def _staged_why(looks, waited, budget):
    """Why a staged wait made more calls a minute than its budget, from its looks. The pace
    (src/aws/wait.rs, Pace::pause) lets a look through when the calls so far, that look's
    included, fit the budget over the time so far; two looks are outside it: the first, made at
    once, and the one at WAIT_TIMEOUT, made whatever the budget says so as not to report a
    time-out on a deployment that ended meanwhile."""
    calls = sum(n for _, n in looks)
    so_far, over = looks[0][1] if looks else 0, []
    for at, n in looks[1:-1]:
        so_far += n
        if so_far > budget * at / 60:
            over.append(f"{so_far} calls by {at:.1f} s (the budget allows {budget * at / 60:.1f})")
    timeline = ", ".join(f"{at:.1f} s ({n})" for at, n in looks)
    if over:
        return (f"{calls} calls in {waited:.0f} s of waiting; looks at (calls): {timeline}. Looks came faster "
                f"than the budget allows: {'; '.join(over)}. Why the pace let them through was not measured "
                "in this run.")
    return (f"{calls} calls in {waited:.0f} s of waiting; looks at (calls): {timeline}. Every look between the "
            "first (made at once) and the one at the time-out (made whatever the budget says, so as not to "
            "report a time-out on a deployment that ended meanwhile) kept the calls so far within the budget "
            "over the time so far; those two looks are what a wait this short pays over it. Over a longer wait "
            "they weigh less (measured once, 2026-12-07, 120 s: 26 calls for one service, 13.0 a minute).")


def lambda_rows(base_url, args, sizes):
    pipe_zip, info_zip, package, peak = measures.lambda_runs(args.binary, base_url, sizes["lambda_mb"])
    ratio = pipe_zip / info_zip
    limit = 2 * package / 1e6 + 30
    return [
        Row("Lambda", f"zipping {sizes['lambda_mb']} MB of mixed files (whole dry run) / zip -r -X",
            f"{ratio:.2f} ({pipe_zip:.2f} s vs {info_zip:.2f} s)", f"≤ {TARGETS['zip_vs_info_zip']}",
            ratio <= TARGETS["zip_vs_info_zip"]),
        Row("Lambda", "peak RSS of the deploy", f"{peak:.0f} MB (package {package / 1e6:.0f} MB)",
            f"≤ 2 × package + 30 = {limit:.0f} MB", peak <= limit),
    ]


def ecr_rows(args, sizes):
    """ecr-push against `docker push`, to the same local registry the tests use (bench/ecr_bench.py)."""
    if not args.image:
        return [Row("ECR", "ecr-push vs docker push", "not measured: needs the Docker engine (--image)")]
    import ecr_bench

    results = ecr_bench.ecr_results(args.binary, args.image, layer_mb=sizes["ecr_layer_mb"],
                                    rounds=sizes["ecr_rounds"])
    # The image size is already a row of its own.
    return [Row("ECR", name.removeprefix("ecr-push, "), value, target, ok)
            for name, value, target, ok in results if not name.startswith("image size")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--image", help="the pipe image; without it the image rows are left out")
    parser.add_argument("--runs", type=int, help="runs of each side-by-side tool (default 10)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one run: checks the script works")
    parser.add_argument("--output", default=str(BENCH.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    sizes = dict(SMOKE if args.smoke else FULL)
    if args.runs:
        sizes["runs"] = args.runs

    rows = size_rows(args) + startup_rows(args, sizes)
    with running_emulator() as base_url:
        tools = side_by_side.run_all(Emulator(base_url), args.binary, args.image, sizes["runs"])
        rows += side_by_side_rows(tools)
        scaled, scaling = keepalive.per_call(args.binary, base_url, sizes["services"], 1 if args.smoke else 3)
        rows += scaled
        rows += staged_waiting_rows(base_url, args, sizes)
        waited = waiting.measure(base_url, args.binary, args.smoke)
        rows += waiting.rows(base_url, args.binary, args.smoke, results=waited)
        rows += waiting_lambda.rows(base_url, args.binary, args.smoke)
        rows += waiting_scan.measure(base_url, args.binary, args.smoke)
        rows += waiting_codedeploy.measure(base_url, args.binary, args.smoke)
        rows += lambda_rows(base_url, args, sizes)
        sections = [(waiting_scan.SECTION, waiting_scan.section()),
                    (waiting_lambda.SECTION, waiting_lambda.section()),
                    (waiting_codedeploy.SECTION, waiting_codedeploy.section())]
        if args.image:
            import step_overhead

            overhead, markdown = step_overhead.step_overhead(args.binary, args.image, Emulator(base_url),
                                                             sizes["step_rounds"], step_overhead.detection(waited),
                                                             full=not args.smoke)
            rows += overhead
            sections.append(("Step overhead", markdown))
    rows += ecr_rows(args, sizes)
    # Last: a release build of its own (bench/client_costs.py), after every timing.
    import client_costs

    costs, markdown = client_costs.client_costs(args.smoke)
    rows += costs
    sections.append(("What each client costs", markdown))

    print_rows(rows)
    notes = [(row.name, row.why or MISSED.get(row.name) or unexplained(row)) for row in rows if row.ok is False]
    write_markdown(args.output, rows, tools, scaling, notes, args.smoke, sizes["runs"], sections)
    print(f"\nwritten: {args.output}")
    if args.smoke:
        return 0
    return 0 if all(row.ok is not False for row in rows) else 1


# Why a target is missed, where profiling showed it cannot be met here; shown in BENCHMARKS.md
# only when the run misses it.
MISSED = {
    "assume + deploy: boto3 script wall / pipe wall": (
        "the pipe's wall time is mostly the emulator's: its five calls (AssumeRoleWithWebIdentity, "
        "DescribeServices, DescribeTaskDefinition for the change listing, RegisterTaskDefinition, "
        "UpdateService) cost the emulator (Python: moto plus our layer verifying the token's signature "
        "and the trust policy) 25-40 ms, which no tool can go below; see the column without the "
        "emulator's handling, where the ratio is the pipe's own. The two reads the scripts skip are "
        "what makes the pipe refuse a missing service before registering anything and list the change. "
        "At load 0.6-1.5 (2026-12-07, 19:21 UTC, 5 runs) the same comparison gave 24 ms for the pipe, "
        "1324 ms for the CLI (55x) and 329 ms for boto3 (14x); of the pipe's 13 ms without the "
        "emulator's handling, strace shows ~3 ms to the first request, ~0.5-1.3 ms between an answer "
        "and the next request (four times), ~2 ms from the last answer to exit (two fsyncs of the "
        "outputs, ~1.9 ms, were cut this round), the rest the emulator's HTTP server outside its "
        "handling and the process spawn."
    ),
}
MISSED["assume + deploy: AWS CLI v1 wall / pipe wall"] = MISSED["assume + deploy: boto3 script wall / pipe wall"]
MISSED |= {
    "assume + deploy: pipe peak RSS (worst run)": (
        "of the 8.4-8.5 MB, /proc/<pid>/smaps_rollup (read while the last call is held) shows 6.7 MB "
        "of the binary's own pages (file-backed, clean, shared with the page cache; the kernel maps "
        "neighbouring pages on each fault) and 1.8 MB of heap and stack. The ECR SDK and ecr-push "
        "grew the binary from 9.5 to 10.2 MB and the peak from 7.6 to 8.5 MB. A non-PIE static "
        "build would skip the 30,000 start-up relocations and their pages but give up ASLR for the "
        "binary; not done. Cutting the file-backed share means a smaller binary (fewer SDK crates)."
    ),
    "ecs-deploy, pipe CPU per AWS call, start-up taken out, 50 services": (
        "the calls are already the fewest ECS allows (one UpdateService per service: ECS has no batch "
        "update; DescribeServices in batches of 10) and travel on kept-alive connections. Counted "
        "in instructions with callgrind (which a shared machine cannot distort), on the release "
        "build with its symbols kept, before this round's cuts (2026-12-07): 41.7 / 55.0 / 121.4 M "
        "instructions at 1 / 10 / 50 services, 31.7 M of them before the first request; so 1.43 / "
        "1.46 / 1.36 M a call with the start-up taken out, 1.35 M a further call. Of a further "
        "call: SigV4 signing 0.29 M (half of it SHA-256, which valgrind runs in software; this CPU "
        "has SHA-NI, which the sha2 crate uses natively), deserialising the answers 0.30 M "
        "(UpdateService answers the whole Service, ~2.5 KB; DescribeServices ~2.3 KB a service, "
        "events included; the SDK reads every field), the SDK's interceptors 0.10 M, its HTTP "
        "client and hyper ~0.1 M, the progress lines (~8 a service) 0.09 M, request serialisation "
        "0.02 M, the rest spread over the SDK's orchestrator (runtime plugins and config bags "
        "rebuilt per call), tokio and the allocator (malloc and free alone 0.23 M, called from all "
        "of these). The pipe's own logic (the watch, the update loop) is under 0.05 M a call. In "
        "the kernel (strace -c -f): 13 system calls per further call (a writev per request, 1.5 "
        "recvfrom, 2.7 epoll_wait, 7 writes of progress lines) and a task switch while each answer "
        "is awaited. Cut this round: the connector builds after the first request (3.2 M once per "
        "run: one HTTP client for all SDK clients) and tracing's character-by-character escaping "
        "of progress lines (~0.03 M a call, printable() escapes them anyway). 0.2 ms would need "
        "the SDK's per-call work (signing, parsing, orchestration) halved; opt-level 3 for its hot "
        "crates (aws-smithy-json, aws-sigv4, http) rebuilds every SDK crate and was not measured "
        "in this round."
    ),
    "start → first AWS request (median of 20)": (
        "the machine was shared while this ran (see the load average under Machine: other sessions' "
        "builds and test suites on the same 2 cores). Re-measured at load 0.6-1.5 (2026-12-07, 19:23 "
        "UTC, main 42d6c15): 3.0-3.6 ms median of 40, and the process's CPU up to that request 2.9-3.0 ms "
        "(getrusage), so start-up is CPU-bound and a shared core stretches it. Callgrind, which load "
        "cannot distort: 12.2 M instructions from exec to the first request (16.5 M under valgrind, whose "
        "four environment variables the unknown-variable check looks at; 31.0 M before this round's cuts), "
        "of which 9.8 M are the TLS roots (8.9 M decoding the 220 KB PEM bundle, 0.9 M the root store), "
        "needed before a real request's TLS handshake; 0.7 M STS's endpoint partitions, 0.5 M the static "
        "binary's relocations; 607 minor page faults. Cut this round: a second root store built when each "
        "SDK client was made (0.9 M), a UTF-8 copy of the bundle in SSL_CERT_FILE's check (1.5 M), the "
        "unknown-variable check's alignments (~3 M a name that is not ours)."
    ),
}

MISSED |= waiting_scan.MISSED


if __name__ == "__main__":
    sys.exit(main())
