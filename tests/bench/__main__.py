"""`make bench` (`python -m tests.bench`): every benchmark, each figure with its ratio to a baseline measured in
the same run on the same machine, then a summary table. Loopback only; bounded in time.

    python -m tests.bench                      # everything (about 6-8 minutes on 2 cores)
    python -m tests.bench --quick              # small sizes, about a minute: a sanity check, not figures
    python -m tests.bench --only intake,e2e    # some of: memory intake consumer consumers relay e2e campaign
                                               # platform console workboard reports national
    python -m tests.bench --only national --national-scale 0.1   # a country on PostgreSQL, a tenth of it
    python -m tests.bench --json results.json  # also write every figure as JSON

NATS: `ANTQ_TEST_NATS_URL` if set, else a nats-server started for the run with the production store settings
(file storage, `sync_interval: always`, so every PubAck waits for an fsync).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.bench import (
    bench_campaign,
    bench_console,
    bench_consumer,
    bench_consumers,
    bench_e2e,
    bench_intake,
    bench_national,
    bench_relay,
    bench_reports,
    bench_workboard,
)
from tests.bench.common import bench_nats

STEPS = ("memory", "intake", "consumer", "consumers", "relay", "e2e", "campaign", "platform", "console", "workboard",
         "reports", "national")
DEFAULT_STEPS = STEPS[:-1]  # `national` (PostgreSQL at national size) runs on its own: `make bench-national`


@dataclass(frozen=True)
class Sizes:
    intake_seconds: float
    consumer_events: int
    consumers_events: int
    relay_events: int
    e2e_seconds: float
    campaign_units: int
    platform_units: int
    console_tips: int
    console_seconds: float
    workboard_commune: int
    workboard_province: int
    report_units: int
    national_scale: float = 1.0


FULL = Sizes(intake_seconds=6, consumer_events=3000, consumers_events=10_000, relay_events=10_000, e2e_seconds=15,
             campaign_units=25_000, platform_units=25_000, console_tips=10_000, console_seconds=20,
             workboard_commune=2000, workboard_province=25_000, report_units=25_000)
QUICK = Sizes(intake_seconds=2, consumer_events=300, consumers_events=200, relay_events=1000, e2e_seconds=3,
              campaign_units=500, platform_units=100, console_tips=500, console_seconds=3,
              workboard_commune=100, workboard_province=300, report_units=200, national_scale=0.001)


@dataclass
class Row:
    benchmark: str
    figure: str
    baseline: str
    ratio: str
    command: str = "python -m tests.bench"


def _f(x: Any, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:,.1f}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x}{unit}"


def _r(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def _memory_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row("memory at rest (RSS)", ", ".join(f"{k} {_f(v, ' MiB')}" for k, v in r.items()), "-", "-", cmd)]


def _intake_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    bare = r["bare"]
    out = []
    for key in bench_intake.VARIANTS:
        if key.key in r:
            t = r[key.key]
            out.append(Row(f"tip intake over HTTP, {key.label} ({r['concurrency']} connections)",
                           f"{_f(t['tips_per_s'])} tips/s, p50 {_f(t['p50_ms'])} ms, p99 {_f(t['p99_ms'])} ms; "
                           f"{t['server_cpu_ms_per_request']} ms CPU/tip",
                           f"bare FastAPI {_f(bare['tips_per_s'])} req/s, p50 {_f(bare['p50_ms'])} ms; "
                           f"{bare['server_cpu_ms_per_request']} ms CPU/req",
                           _r(t["ratio"]), cmd))
    return out


def _consumer_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    raw = r["raw"]["events_per_s"]
    base = f"raw nats-py fetch+ack {_f(raw)} events/s; {r['raw']['cpu_ms_per_event']} ms CPU/event"
    return [Row("event processing: notify-tips (notify process)",
                f"{_f(r['notify']['events_per_s'])} events/s; {r['notify']['cpu_ms_per_event']} ms CPU/event",
                base, _r(r["notify"]["ratio"]), cmd),
            Row("event processing: spine alone (no-op handler)",
                f"{_f(r['spine_noop']['events_per_s'])} events/s; "
                f"{r['spine_noop']['cpu_ms_per_event']} ms CPU/event", base, _r(r["spine_noop"]["ratio"]), cmd)]


def _consumers_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row(f"event processing: {durable} ({c['events']:,} events of the {c['load']} load)",
                f"{_f(c['events_per_s'])} events/s; {c['cpu_ms_per_event']} ms CPU/event",
                f"raw nats-py fetch+ack {_f(c['raw_events_per_s'])} events/s; "
                f"{c['raw_cpu_ms_per_event']} ms CPU/event", _r(c["ratio"]), cmd)
            for durable, c in r["consumers"].items()]


def _relay_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row("outbox relay (SQLite outbox -> PubAck -> marked sent)",
                f"{_f(r['relay']['events_per_s'])} events/s",
                f"raw nats-py pipelined publish {_f(r['raw']['events_per_s'])} events/s",
                _r(r["relay"]["ratio"]), cmd)]


def _e2e_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row(f"POST /tips -> officer inbox at {_f(r['rate_per_s'])}/s",
                f"p50 {_f(r['e2e']['p50_ms'])} ms, p99 {_f(r['e2e']['p99_ms'])} ms "
                f"({r['reached_inbox']}/{r['accepted']} arrived)",
                f"POST alone p50 {_f(r['post_only']['p50_ms'])} ms, p99 {_f(r['post_only']['p99_ms'])} ms",
                _f(r["e2e"]["p50_ms"] / r["post_only"]["p50_ms"]) + "x" if r["post_only"]["p50_ms"] else "-",
                cmd)]


def _campaign_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row(f"provincial campaign: {r['units']:,} units (units service)",
                f"{_f(r['total_s'], ' s')}, {_f(r['units_per_s'])} units/s, {r['events']:,} events",
                f"raw nats-py publish {_f(r['baseline_nats_py_events_per_s'])} events/s",
                _r(r["ratio_to_baseline"]), cmd)]


def _platform_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    return [Row(f"provincial campaign, whole platform: {r['units']:,} units decided, awards proposed, "
                "notifications delivered",
                f"{_f(r['total_s'], ' s')} ({_f(r['units_per_s'])} units/s); {r['awards_proposed']:,} awards "
                f"proposed, {r['notifications_delivered']:,} notifications delivered; CPU s "
                + ", ".join(f"{k} {v}" for k, v in r.get("cpu_s", {}).items()),
                f"units alone {_f(r['units_done_s'], ' s')}",
                _r(r["units_done_s"] / r["total_s"]) if r["total_s"] else "-", cmd)]


def _console_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    load = f"{r['tips']:,} tips in the area, {r['sessions']} sessions"
    return [Row(f"console: /tips render ({load})",
                f"p50 {_f(r['tips_page']['p50_ms'])} ms, p99 {_f(r['tips_page']['p99_ms'])} ms "
                f"({r['tips_page']['renders']:,} renders); CPU per page: console "
                f"{r['cpu_ms_per_render']['console']} ms, tips {r['cpu_ms_per_render']['tips']} ms",
                f"one session alone: p50 {_f(r['tips_page_alone']['p50_ms'])} ms, "
                f"p99 {_f(r['tips_page_alone']['p99_ms'])} ms; goal p99 < 150 ms", "-", cmd),
            Row(f"console: /tips/{{id}} render ({load})",
                f"p50 {_f(r['tip_page']['p50_ms'])} ms, p99 {_f(r['tip_page']['p99_ms'])} ms "
                f"({r['tip_page']['renders']:,} renders)", "goal p99 < 150 ms", "-", cmd),
            Row(f"console: POST /tips -> event on an open /tips stream (poll {r['poll_s']} s, under that load)",
                f"p50 {_f(r['arrival']['p50_ms'])} ms, p99 {_f(r['arrival']['p99_ms'])} ms "
                f"({r['arrival']['tips']}/{r['arrival']['tips'] + r['arrival']['missed']} arrived)",
                "goal p99 < 1 s", "-", cmd),
            Row("console RSS", f"at rest {_f(r['rss_rest_mib'], ' MiB')}, "
                f"under load {_f(r['rss_peak_mib'], ' MiB')}", "-", "-", cmd)]


def _workboard_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    def render(key: str) -> str:
        return f"p50 {_f(r[key]['p50_ms'])} ms, p99 {_f(r[key]['p99_ms'])} ms ({r[key]['renders']} renders)"

    commune, province = f"{r['commune_units']:,} units", f"{r['province_units']:,} units"
    return [Row(f"console: /cycles workboard of a commune ({commune}, page of 50)", render("commune_board"),
                f"awaiting appraisal: {render('commune_awaiting_appraisal')}; goal p99 < 300 ms", "-", cmd),
            Row(f"console: /cycles workboard of the province ({province}, page of 50)",
                render("province_board"), f"not registered: {render('province_not_registered')}; "
                "goal p99 < 300 ms", "-", cmd),
            Row(f"console: the province's last page of 500 rows (keyset, page "
                f"{r['province_last_page_500']['pages']})", render("province_last_page_500"), "-", "-", cmd),
            Row(f"console: batch decision of {r['batch_decision']['rows']} selected rows, end to end",
                f"{_f(r['batch_decision']['ms'])} ms", f"batch appraisal of {r['batch_appraisal']['rows']} "
                f"rows: {_f(r['batch_appraisal']['ms'])} ms", "-", cmd)]


def _reports_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    b = r["build_only"]
    alone = ", ".join(f"{k} {_f(v['p50_ms'])} ms" for k, v in r.get("stats_alone", {}).items())
    return [Row(f"report export, XLSX: province {r['area']}, year {r['year']}, {r['units']:,} units "
                "(GET /reports/report.xlsx)",
                f"p50 {_f(r['xlsx']['p50_ms'])} ms, max {_f(r['xlsx']['max_ms'])} ms; building the file alone "
                f"p50 {_f(b['xlsx']['p50_ms'])} ms", f"the report page p50 {_f(r['page']['p50_ms'])} ms (one "
                f"/stats alone p50: {alone})",
                _f(r["xlsx"]["p50_ms"] / r["page"]["p50_ms"]) + "x" if r["page"]["p50_ms"] else "-", cmd),
            Row(f"report export, PDF: province {r['area']}, year {r['year']}, {r['units']:,} units "
                "(GET /reports/report.pdf)",
                f"p50 {_f(r['pdf']['p50_ms'])} ms, max {_f(r['pdf']['max_ms'])} ms; building the file alone "
                f"p50 {_f(b['pdf']['p50_ms'])} ms", f"the report page p50 {_f(r['page']['p50_ms'])} ms",
                _f(r["pdf"]["p50_ms"] / r["page"]["p50_ms"]) + "x" if r["page"]["p50_ms"] else "-", cmd)]


def _national_rows(r: dict[str, Any], cmd: str) -> list[Row]:
    cmd += f" --national-scale {r['scale']}"
    size = (f"{r['build']['units']['units']:,} units, {r['build']['tips']['tips']:,} tips, "
            f"{r['build']['notifications']['notifications']:,} notifications")
    imp = r["import"]
    out = [Row(f"national on PostgreSQL: bulk import ({imp['units']:,} units over every commune)",
               f"{_f(imp['units_per_s'])} units/s; {imp['cpu_ms_per_unit']} ms CPU/unit",
               f"1,000,000 units would take {_f(imp['extrapolated_full_s'], ' s')} (extrapolated)", "-", cmd)]
    for read, m in r["reads"].items():
        out.append(Row(f"national on PostgreSQL: {bench_national.READ_LABELS[read]} ({size})",
                       f"p50 {_f(m['p50_ms'])} ms, p99 {_f(m['p99_ms'])} ms ({m['requests']} requests)",
                       f"goal p99 < {m['goal_p99_ms']} ms: {'met' if m['met'] else 'missed'}", "-", cmd))
    out.extend(Row(f"national on PostgreSQL: {rep['replicas']} replica(s) of tips and notify",
                   f"{_f(rep['tips_per_s'])} tips/s (p99 {_f(rep['post_p99_ms'])} ms), "
                   f"{_f(rep['events_per_s'])} events/s", "CPU s " + ", ".join(
                       f"{k} {v}" for k, v in rep["cpu_s"].items()), "-", cmd) for rep in r["replicas"])
    return out


_ROWS: dict[str, Callable[[dict[str, Any], str], list[Row]]] = {
    "memory": _memory_rows,
    "intake": _intake_rows,
    "consumer": _consumer_rows,
    "consumers": _consumers_rows,
    "relay": _relay_rows,
    "e2e": _e2e_rows,
    "campaign": _campaign_rows,
    "platform": _platform_rows,
    "console": _console_rows,
    "workboard": _workboard_rows,
    "reports": _reports_rows,
    "national": _national_rows,
}


def rows_for(name: str, r: dict[str, Any]) -> list[Row]:
    """Summary rows of one step's result."""
    if "error" in r or r.get("status") == "pending":
        return [Row(name, r.get("error") or r.get("message", "pending"), "-", "-")]
    cmd = f"python -m tests.bench --only {name}"
    rows = _ROWS.get(name)
    return rows(r, cmd) if rows else []


def print_table(rows: list[Row]) -> None:
    heads = ("benchmark", "figure", "baseline (same run)", "ratio")
    data = [(r.benchmark, r.figure, r.baseline, r.ratio) for r in rows]
    widths = [max(len(h), *(len(d[i]) for d in data)) if data else len(h) for i, h in enumerate(heads)]
    line = " | ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
    print("\n" + line + "\n" + "-+-".join("-" * w for w in widths))
    for d in data:
        print(" | ".join(c.ljust(w) for c, w in zip(d, widths, strict=True)))


async def run_steps(steps: list[str], sizes: Sizes, nats_url: str) -> dict[str, Any]:
    plan: dict[str, tuple[Callable[[], Awaitable[dict[str, Any]]], float]] = {
        "memory": (lambda: bench_campaign.memory_at_rest(nats_url), 120),
        "intake": (lambda: bench_intake.run(nats_url, duration=sizes.intake_seconds), 240),
        "consumer": (lambda: bench_consumer.run(nats_url, n=sizes.consumer_events), 300),
        "consumers": (lambda: bench_consumers.run(nats_url, n=sizes.consumers_events), 600),
        "relay": (lambda: bench_relay.run(nats_url, n=sizes.relay_events), 240),
        "e2e": (lambda: bench_e2e.run(nats_url, duration=sizes.e2e_seconds), 180),
        "campaign": (lambda: bench_campaign.run_units(sizes.campaign_units), 600),
        "platform": (lambda: bench_campaign.run_platform(nats_url, sizes.platform_units, timeout=900), 960),
        "console": (lambda: bench_console.run(nats_url, tips=sizes.console_tips, duration=sizes.console_seconds),
                    600),
        "workboard": (lambda: bench_workboard.run(nats_url, commune_units=sizes.workboard_commune,
                                                  province_units=sizes.workboard_province), 900),
        "reports": (lambda: bench_reports.run(nats_url, sizes.report_units), 600),
        "national": (lambda: bench_national.run(nats_url, scale=sizes.national_scale), 6 * 3600),
    }
    results: dict[str, Any] = {}
    for name in steps:
        make, limit = plan[name]
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(make(), timeout=limit)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        result_s = round(time.perf_counter() - started, 1)
        results[name] = result
        print(json.dumps(result, indent=1, default=str), flush=True)
        print(f"({name}: {result_s} s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmarks run")
    parser.add_argument("--national-scale", type=float, default=None,
                        help="size of `national` (1 = 1M units, 1M tips, 10M notifications; default "
                             "ANTQ_NATIONAL_SCALE, else 1, or 0.001 with --quick)")
    parser.add_argument("--only", default=",".join(DEFAULT_STEPS), help=f"comma-separated steps of: {' '.join(STEPS)}")
    parser.add_argument("--json", default=None, help="write every figure to this file")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING)
    sizes = QUICK if args.quick else FULL
    scale = args.national_scale if args.national_scale is not None else (
        None if args.quick else bench_national.scale_from_env())
    if scale is not None:
        sizes = dataclasses.replace(sizes, national_scale=scale)
    started = time.perf_counter()
    with bench_nats() as (nats_url, source):
        print(f"antq benchmarks on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}); "
              f"NATS: {source}; load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        results = asyncio.run(run_steps(steps, sizes, nats_url))
        if os.environ.get("ANTQ_TEST_NATS_URL"):  # a shared server keeps streams: drop the run's own
            from shared.testing import ISSUED_NAMESPACES, drop_namespaces

            with contextlib.suppress(Exception):
                asyncio.run(drop_namespaces(nats_url, list(ISSUED_NAMESPACES)))
    rows = [row for name in steps for row in rows_for(name, results[name])]
    print_table(rows)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s; load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"nats": source, "sizes": sizes.__dict__, "total_s": round(total, 1), "results": results},
                      fh, indent=1, default=str)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
