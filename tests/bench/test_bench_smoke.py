"""The benchmarks still run: every benchmark function at a tiny size, checking its figures and counts (no timing)."""

from __future__ import annotations

from typing import Any

from tests.bench import (
    bench_campaign,
    bench_console,
    bench_consumer,
    bench_consumers,
    bench_e2e,
    bench_intake,
    bench_relay,
    bench_reports,
    bench_workboard,
)
from tests.bench.__main__ import rows_for


def _positive(*values: Any) -> bool:
    return all(isinstance(v, int | float) and v > 0 for v in values)


async def test_every_benchmark_runs_at_a_tiny_size_and_counts_right(nats_url: str) -> None:
    results: dict[str, dict[str, Any]] = {}

    intake = results["intake"] = await bench_intake.run(nats_url, concurrency=4, duration=0.5, warmup=0.1,
                                                        variants=("tips",))
    assert _positive(intake["bare"]["tips_per_s"], intake["bare"]["p50_ms"], intake["bare"]["p99_ms"])
    tips = intake["tips"]
    assert _positive(tips["tips_per_s"], tips["p50_ms"], tips["p99_ms"], tips["ratio"], tips["rss_peak_mib"])
    # Every tip answered 202 is stored once and its TipReceived published once.
    assert tips["answered_202"] == tips["stored"] == tips["published"] > 0
    assert tips["errors"] == 0

    consumer = results["consumer"] = await bench_consumer.run(nats_url, n=50, batch=20)
    assert _positive(consumer["raw"]["events_per_s"], consumer["spine_noop"]["events_per_s"],
                     consumer["notify"]["events_per_s"])
    assert consumer["spine_noop"]["processed"] == 50
    assert consumer["notify"]["processed"] == consumer["notify"]["inbox_deliveries"] == 50

    consumers = results["consumers"] = await bench_consumers.run(nats_url, n=60, batch=20)
    assert set(consumers["consumers"]) == {t.durable for targets in bench_consumers.TARGETS.values() for t in targets}
    for durable, c in consumers["consumers"].items():
        assert _positive(c["events_per_s"], c["raw_events_per_s"], c["ratio"]), durable
        assert c["events"] >= c["of_the_load"] > 0 and c["all_acknowledged"], durable
        # Every event of the load of a type the consumer handles left its processed_events row, once; at most the
        # events another service published on the stream since are added (awards' proposals on AWARDS).
        assert c["handled"] <= c["processed"] <= c["handled"] + c["events"] - c["of_the_load"], durable
    assert consumers["consumers"]["awards-units"]["handled"] < consumers["consumers"]["awards-units"]["events"]

    relay = results["relay"] = await bench_relay.run(nats_url, n=50, batch_size=20)
    assert _positive(relay["raw"]["events_per_s"], relay["relay"]["events_per_s"], relay["relay"]["ratio"])
    assert relay["stream_messages"] == 100  # 50 from the baseline, 50 from the relay, none twice

    e2e = results["e2e"] = await bench_e2e.run(nats_url, rate=10, duration=1, poll=0.05)
    assert e2e["accepted"] == e2e["reached_inbox"] == 10 and e2e["failed_posts"] == 0
    assert _positive(e2e["e2e"]["p50_ms"], e2e["e2e"]["p99_ms"], e2e["post_only"]["p50_ms"])

    platform = results["platform"] = await bench_campaign.run_platform(nats_url, n_units=20)
    if platform.get("status") != "pending":
        assert platform["unit_events"] >= 20 * 5  # imported, registered, self-assessed, appraised, decided
        assert _positive(platform["total_s"], platform["units_per_s"])
        assert platform["notifications_delivered"] > 0
        # One unit in HISTORY_EVERY came with two recognised years before: with 2026 each owes an award.
        assert platform["awards_proposed"] == len(range(0, 20, bench_campaign.HISTORY_EVERY)) > 0
        assert platform["history_events"] == 2 * platform["awards_proposed"]
        assert set(platform["rss_peak_mib"]) == {"units+driver", "awards", "notify"}

    console = results["console"] = await bench_console.run(nats_url, tips=30, sessions=2, duration=0.5,
                                                           arrivals=2, poll=0.2)
    assert console["errors"] == 0 and console["arrival"] == console["arrival"] | {"tips": 2, "missed": 0}
    assert console["tips_page"]["renders"] > 0 and console["tip_page"]["renders"] > 0
    assert _positive(console["tips_page"]["p99_ms"], console["tips_page_alone"]["p50_ms"], console["arrival"]["p50_ms"],
                     console["cpu_ms_per_render"]["console"], console["rss_rest_mib"],
                     console["rss_peak_mib"])

    board = results["workboard"] = await bench_workboard.run(nats_url, commune_units=40, province_units=60, renders=2)
    assert board["appraised"] == 22 and board["batch_appraisal"]["rows"] == 10  # 40 * 4/5 assessed, 22 appraised
    assert board["batch_decision"]["rows"] == 32 and board["province_last_page_500"]["pages"] == 1
    assert _positive(board["commune_board"]["p99_ms"], board["province_board"]["p50_ms"])
    report = results["reports"] = await bench_reports.run(nats_url, 20, repeats=1)
    assert report["units"] == 20 and report["xlsx_bytes"] > 0 and report["pdf_bytes"] > 0
    assert _positive(report["xlsx"]["p50_ms"], report["pdf"]["p50_ms"], report["page"]["p50_ms"])

    for name, result in results.items():
        assert rows_for(name, result), name
