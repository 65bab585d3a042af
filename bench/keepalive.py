"""The pipe's CPU time per AWS call (issue 23): ecs-deploy of an image change to 1, 10 and 50
services, each rollout followed to the end, against the emulator, which keeps connections alive
as AWS does (test/emulator/server.py). CPU is user + system of the pipe process (wait4's rusage);
calls and the connections that carried them come from the emulator's request log (each record
names its connection). The waits between polls cost no CPU and are not in it.

The published figure takes the fixed start-up out: per call = (the run's CPU − the CPU of the same
run up to its first request) / calls. The start-up share (reading the variables and the OIDC token,
building the clients) is paid once whatever the number of services, and has its own target
(start → first request, bench/measures.py); left in, it would make the per-call figure a measure of
how many calls share it. "Up to its first request" is the same run against a loopback listener that
takes the first request's bytes and never answers (measures.ecs_deploy_run(until_first_request)).
The marginal cost, (CPU at the most services − CPU at one) / (calls at the most − calls at one), is
shown too: what each further call costs, with every fixed cost of the run (also those after the
first request, such as building the ECS client) taken out.

Entry point for bench/bench.py: `per_call(binary, base_url, counts, repeats) -> (rows, table)`.
"""

import statistics

from measures import Emulator, ecs_deploy_run
from report import Row

TARGET_MS = 0.2
SECTION = "CPU per AWS call"


def _run(binary, base_url, services):
    code, cpu, calls, _, wall, (user, system) = ecs_deploy_run(binary, base_url, services)
    if code:
        raise SystemExit(f"ecs-deploy to {len(services)} services failed with exit code {code}")
    ours = [r for r in Emulator(base_url).requests() if "aws-role-deploy" in (r["user_agent"] or "")]
    connections = {r["connection"] for r in ours}
    before = sum(ecs_deploy_run(binary, base_url, services, until_first_request=True))
    return {"cpu": cpu * 1000, "user": user * 1000, "system": system * 1000, "wall": wall * 1000,
            "before": before * 1000, "calls": sum(calls.values()), "connections": len(connections)}


def per_call(binary, base_url, counts, repeats):
    """(rows, table): table has one dict per service count, medians of `repeats` runs."""
    table = []
    for count in counts:
        services = ["web"] if count == 1 else [f"svc{i}" for i in range(count)]
        runs = [_run(binary, base_url, services) for _ in range(repeats)]
        line = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        line["services"] = count
        line["per_call"] = max(line["cpu"] - line["before"], 0) / line["calls"]
        table.append(line)
    first, last = table[0], table[-1]
    rows = [Row(SECTION, "ecs-deploy, pipe CPU before its first AWS call (start-up, paid once)",
                " / ".join(f"{line['before']:.1f}" for line in table) + " ms at "
                + " / ".join(str(line["services"]) for line in table) + " services")]
    for line in table:
        is_last = line is last
        rows.append(Row(SECTION, f"ecs-deploy, pipe CPU per AWS call, start-up taken out, {line['services']} "
                                 f"service{'s' if line['services'] > 1 else ''}",
                        f"{line['per_call']:.2f} ms (({line['cpu']:.1f} − {line['before']:.1f}) ms / "
                        f"{line['calls']:.0f} calls, {line['connections']:.0f} connections)",
                        f"≤ {TARGET_MS} ms" if is_last else "-",
                        line["per_call"] <= TARGET_MS if is_last else None))
    if last["calls"] > first["calls"]:
        marginal = (last["cpu"] - first["cpu"]) / (last["calls"] - first["calls"])
        rows.append(Row(SECTION, f"ecs-deploy, pipe CPU per further AWS call, 1 → {last['services']} services",
                        f"{marginal:.2f} ms ({last['cpu'] - first['cpu']:.1f} ms / "
                        f"{last['calls'] - first['calls']:.0f} calls)"))
    return rows, table
