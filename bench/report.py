"""The results file as Markdown (bench/results/latest.md), beside a previous run's, and
the smoke check that every measurement produced a number."""

import sys
from typing import Any


def render_markdown(report: dict[str, Any], previous: dict[str, Any] | None) -> str:
    machine = report["machine"]
    by_scale = report.get("by_scale") or {str(report["scale"]): {"counts": report["counts"]}}
    lines = [
        f"# Taskdesk benchmark, {report['started_at'][:19]} UTC",
        "",
        *(
            f"Scale {scale}: " + ", ".join(f"{v:,} {k}" for k, v in facts["counts"].items()) + "  "
            for scale, facts in by_scale.items()
        ),
        f"Machine: {machine['cores']} cores, {machine['memory_gb']} GB, {machine['machine']}, "
        f"Python {machine['python']}, Django {machine['django']}, "
        f"PostgreSQL {machine['postgresql']}",
        "",
    ]
    previous = previous or {}
    if "api" in report and len(report.get("scales", [])) > 1:
        lines += growth_table(report["api"], report["scales"], previous.get("api"))
    elif "api" in report:
        lines += api_table(report["api"], previous.get("api"))
    if "realtime" in report:
        lines += realtime_table(report["realtime"], previous.get("realtime"))
    if "latency" in report:
        lines += latency_table(report["latency"], previous.get("latency"))
    if "execution" in report:
        lines += execution_table(report["execution"], previous.get("execution"))
    return "\n".join(lines)


def api_table(rows: list[dict[str, Any]], previous: list[dict[str, Any]] | None) -> list[str]:
    before = {row["name"]: row for row in previous or []}
    lines = [
        "## API (through daphne over HTTP) vs floor (the same SQL through psycopg)",
        "",
        "| endpoint | queries | api p50 | api p95 | api p99 | floor p50 | ratio p50 |"
        + (" prev ratio |" if previous else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if previous else ""),
    ]
    for row in rows:
        api, floor = row["api_ms"], row["floor_ms"]
        line = (
            f"| {row['name']} | {row['queries']} | {api['p50']:.2f} ms | "
            f"{api['p95']:.2f} ms | {api['p99']:.2f} ms | {floor['p50']:.2f} ms | "
            f"{row['ratio_p50']}x |"
        )
        if previous:
            old = before.get(row["name"])
            line += f" {old['ratio_p50']}x |" if old else " - |"
        lines.append(line)
    return [*lines, ""]


def growth_table(
    rows: list[dict[str, Any]], scales: list[str], previous: list[dict[str, Any]] | None
) -> list[str]:
    """Each endpoint's p50 at every scale, its growth from the smallest scale to the
    largest beside its floor's growth, and its ratio to the floor at the largest."""
    before = {row["name"]: row for row in previous or []}
    first, last = scales[0], scales[-1]
    lines = [
        "## API (through daphne over HTTP) vs floor (the same SQL through psycopg), "
        f"scales {', '.join(scales)}",
        "",
        f"Growth: p50 at scale {last} / p50 at scale {first}. Ratio: api p50 / floor p50 at "
        f"scale {last}. Queries: per request at scale {last}.",
        "",
        "| endpoint | queries | "
        + " | ".join(f"api p50 @{s}" for s in scales)
        + " | growth | "
        + " | ".join(f"floor p50 @{s}" for s in scales)
        + f" | floor growth | ratio p50 @{last} | api p95 @{last} | api p99 @{last} |"
        + (" prev ratio |" if previous else ""),
        "| --- | ---: |" + " ---: |" * (2 * len(scales) + 5) + (" ---: |" if previous else ""),
    ]
    for row in rows:
        by = row.get("p50_by_scale", {})
        api_cells = " | ".join(f"{by[s]['api']:.2f} ms" if s in by else "-" for s in scales)
        floor_cells = " | ".join(f"{by[s]['floor']:.2f} ms" if s in by else "-" for s in scales)
        growth = f"{row['growth_p50']}x" if row.get("growth_p50") else "-"
        floor_growth = f"{row['floor_growth_p50']}x" if row.get("floor_growth_p50") else "-"
        line = (
            f"| {row['name']} | {row['queries']} | {api_cells} | {growth} | {floor_cells} | "
            f"{floor_growth} | {row['ratio_p50']}x | {row['api_ms']['p95']:.2f} ms | "
            f"{row['api_ms']['p99']:.2f} ms |"
        )
        if previous:
            old = before.get(row["name"])
            line += f" {old['ratio_p50']}x |" if old else " - |"
        lines.append(line)
    return [*lines, ""]


def realtime_table(result: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    fanout, sse = result["fanout_ms"], result["sse"]
    rows = [
        ("commit to 1 pusher-js client", "latency_ms", "p50 <= 10 ms, p99 <= 50 ms"),
        (f"commit to the last of {fanout['clients']} clients", "fanout_ms", "p99 <= 500 ms"),
    ]
    lines = [
        "## Realtime (real pusher-js; floor: the official client's trigger, no outbox)",
        "",
        "| measurement | p50 | p95 | p99 | floor p50 | floor p99 | ratio p50 | target |"
        + (" prev p50 |" if previous else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |" + (" ---: |" if previous else ""),
    ]
    for label, key, target in rows:
        row = result[key]
        out, floor = row["outbox"], row["floor"]
        line = (
            f"| {label} | {out['p50']:.2f} ms | {out['p95']:.2f} ms | {out['p99']:.2f} ms | "
            f"{floor['p50']:.2f} ms | {floor['p99']:.2f} ms | {row['ratio_p50']}x | {target} |"
        )
        if previous:
            line += f" {previous[key]['outbox']['p50']:.2f} ms |" if key in previous else " - |"
        lines.append(line)
    lines += [
        "",
        f"SSE: {sse['streams']} log streams on one server process (target: <= 10 threads, "
        "<= 300 MB RSS)",
        "",
        "| threads | RSS | idle server | line to first stream p50 / p99 | "
        "line to all streams p50 / p99 |",
        "| ---: | ---: | --- | ---: | ---: |",
        f"| {sse['threads']} | {sse['rss_mb']} MB | {sse['threads_idle_server']} threads, "
        f"{sse['rss_mb_idle_server']} MB | {sse['first_ms']['p50']:.2f} / "
        f"{sse['first_ms']['p99']:.2f} ms | {sse['last_ms']['p50']:.2f} / "
        f"{sse['last_ms']['p99']:.2f} ms |",
        "",
    ]
    return lines


def latency_table(result: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    lines = [
        f"## Message to run: {result['messages']} USER messages to the echo robot, one idle worker",
        "",
        "From just before the POST to the run's first log line at an SSE client, and to the "
        "ASSISTANT `new-message` at a pusher-js client. Target (wake-up): p50 <= 50 ms, "
        "p99 <= 200 ms.",
        "",
        "| worker | first log line p50 | p99 | answer p50 | p99 |"
        + (" prev answer p50 |" if previous else ""),
        "| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if previous else ""),
    ]
    for key, label in (("wakeup", "NOTIFY/LISTEN wake-up"), ("polling", "polling only")):
        row = result[key]
        line = (
            f"| {label} (poll {row['poll_seconds']} s) | {row['log_ms']['p50']:.1f} ms | "
            f"{row['log_ms']['p99']:.1f} ms | {row['answer_ms']['p50']:.1f} ms | "
            f"{row['answer_ms']['p99']:.1f} ms |"
        )
        if previous:
            old = previous.get(key)
            line += f" {old['answer_ms']['p50']:.1f} ms |" if old else " - |"
        lines.append(line)
    lines += [
        "",
        "Where the time went (p50, ms after the POST started), from the rows' own stamps, "
        "each taken inside its transaction before the commit:",
        "",
    ]
    for key, label in (("wakeup", "wake-up"), ("polling", "polling only")):
        phases = result[key].get("phases_ms", {})
        lines.append(f"- {label}: " + "; ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    again = {key: result[key].get("repeated_events") for key in ("wakeup", "polling")}
    if None not in again.values():
        lines += [
            "",
            "`new-message` events heard again, a message's own event after its answer, or an "
            "answer that was not the asked message's (delivery is at least once; none is "
            f"taken for an answer): {again['wakeup']} with the wake-up, "
            f"{again['polling']} polling only.",
        ]
    return [*lines, ""]


def execution_table(result: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    before = {row["workers"]: row for row in (previous or {}).get("workers", [])}
    lines = [
        f"## Execution: {result['runs']} scripted runs per worker count (real db_worker processes)",
        "",
        f"Floor: `execute_run` in one process, no queue: {result['floor_runs_per_s']} runs/s. "
        f"SQL floor: the {result['sql_statements_per_run']} statements of one such run, "
        "replayed for each run through psycopg from as many processes as workers "
        "(bench/sql_floor.py). Target: >= 200 runs/s with 4 workers, 0 double runs.",
        "",
        "| workers | runs/s | seconds | vs floor | SQL floor runs/s | vs SQL floor "
        "| double runs | not COMPLETED |" + (" prev runs/s |" if previous else ""),
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if previous else ""),
    ]
    for row in result["workers"]:
        line = (
            f"| {row['workers']} | {row['runs_per_s']} | {row['seconds']} | "
            f"{row['ratio_to_floor']}x | {row['sql_floor']['runs_per_s']} | "
            f"{row['ratio_to_sql_floor']}x | {row['double_runs']} | {row['incomplete']} |"
        )
        if previous:
            old = before.get(row["workers"])
            line += f" {old['runs_per_s']} |" if old else " - |"
        lines.append(line)
    cpu = [row for row in result["workers"] if row.get("cpu_ms_per_run")]
    cpu += [
        {**row, "workers": f"{row['workers']} (SQL floor)", **row["sql_floor"]}
        for row in result["workers"]
        if row["sql_floor"].get("cpu_ms_per_run")
    ]
    if cpu:
        lines += [
            "",
            "CPU per run, from the commit that queued the runs to the last one's end (Linux's "
            "/proc): the workers, PostgreSQL, the bench's process (it queued the runs and sends "
            "most of their events, as the server would), the rest of the machine; the ceiling "
            "is the runs per second the machine's cores give at that cost. In the SQL floor's "
            "rows, the replaying processes stand in the workers' column.",
            "",
            "| workers | machine | workers | PostgreSQL | bench | other | ceiling |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in cpu:
            used = row["cpu_ms_per_run"]
            lines.append(
                f"| {row['workers']} | {used['machine']} ms | {used.get('workers', 0)} ms | "
                f"{used.get('postgresql', 0)} ms | {used.get('bench', 0)} ms | "
                f"{used['other']} ms | {used['ceiling_runs_per_s']} runs/s |"
            )
    return [*lines, ""]


def check_complete(report: dict[str, Any], parts: set[str]) -> int:
    """Smoke mode: every measurement produced a number (speed is not judged here)."""
    missing = [part for part in sorted(parts) if part not in report]
    missing += [
        row["name"]
        for row in report.get("api", [])
        if not row["api_ms"]["n"] or row["ratio_p50"] is None
    ]
    if len(report.get("scales", [])) > 1:  # every endpoint measured at every scale
        missing += [
            f"{row['name']} growth" for row in report.get("api", []) if not row.get("growth_p50")
        ]
    realtime = report.get("realtime", {})
    for key in ("latency_ms", "fanout_ms"):
        if key in realtime and not (realtime[key]["outbox"]["n"] and realtime[key]["ratio_p50"]):
            missing.append(key)
    if realtime and not (realtime["sse"]["last_ms"]["n"] and realtime["sse"]["rss_mb"]):
        missing.append("sse")
    for key in ("wakeup", "polling"):
        row = report.get("latency", {}).get(key)
        if row is not None and not (row["log_ms"]["n"] and row["answer_ms"]["n"]):
            missing.append(f"latency ({key})")
    for row in report.get("execution", {}).get("workers", []):
        if not row["runs_per_s"] or row["double_runs"] or row["incomplete"]:
            missing.append(f"execution with {row['workers']} workers")
        if not row["sql_floor"]["runs_per_s"] or row["sql_floor"]["incomplete"]:
            missing.append(f"SQL floor with {row['workers']} processes")
    if missing:
        print(f"bench-smoke: missing or wrong figures for {missing}", file=sys.stderr)
        return 1
    print(f"bench-smoke: {len(parts)} parts, every figure produced")
    return 0
