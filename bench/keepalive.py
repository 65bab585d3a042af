"""The pipe's CPU time per AWS call (issue 23): ecs-deploy of an image change to 1, 10 and 50
services, each rollout followed to the end, against the emulator, which keeps connections alive
as AWS does (test/emulator/server.py). CPU is user + system of the pipe process (wait4's rusage);
calls and the connections that carried them come from the emulator's request log (each record
names its connection). The waits between polls cost no CPU and are not in it.

Per call is the run's CPU divided by its calls, start-up included (the brief's definition); the
marginal cost, (CPU at the most services − CPU at one) / (calls at the most − calls at one), is the
same with the fixed start-up taken out: what each further call costs.

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
    return {"cpu": cpu * 1000, "user": user * 1000, "system": system * 1000, "wall": wall * 1000,
            "calls": sum(calls.values()), "connections": len(connections)}


def per_call(binary, base_url, counts, repeats):
    """(rows, table): table has one dict per service count, medians of `repeats` runs."""
    table = []
    for count in counts:
        services = ["web"] if count == 1 else [f"svc{i}" for i in range(count)]
        runs = [_run(binary, base_url, services) for _ in range(repeats)]
        line = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        line["services"] = count
        line["per_call"] = line["cpu"] / line["calls"]
        table.append(line)
    first, last = table[0], table[-1]
    rows = []
    for line in table:
        is_last = line is last
        rows.append(Row(SECTION, f"ecs-deploy, pipe CPU per AWS call, {line['services']} "
                                 f"service{'s' if line['services'] > 1 else ''}",
                        f"{line['per_call']:.2f} ms ({line['cpu']:.1f} ms / {line['calls']:.0f} calls, "
                        f"{line['connections']:.0f} connections)",
                        f"≤ {TARGET_MS} ms" if is_last else "-",
                        line["per_call"] <= TARGET_MS if is_last else None))
    if last["calls"] > first["calls"]:
        marginal = (last["cpu"] - first["cpu"]) / (last["calls"] - first["calls"])
        rows.append(Row(SECTION, f"ecs-deploy, pipe CPU per further AWS call, 1 → {last['services']} services",
                        f"{marginal:.2f} ms ({last['cpu'] - first['cpu']:.1f} ms / "
                        f"{last['calls'] - first['calls']:.0f} calls)"))
    return rows, table
