"""Settings resolution and subject naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.bus.streams import Namespace
from shared.contracts.subjects import STREAMS, dlq_subject, stream_for_subject, subject_matches
from shared.settings import Settings, child_environment, valid_agency_name


def test_ports_and_database_urls_follow_the_contract(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, port_base=9000)
    assert [s.http_port_for(n) for n in ("units", "tips", "awards", "notify")] == [9001, 9002, 9003, 9004]
    assert s.database_url_for("tips").startswith("sqlite+aiosqlite:///") and "tips.db" in s.database_url_for("tips")
    assert s.effective_nats_url() == "nats://127.0.0.1:4222"


def test_notices_link_to_the_public_console_else_to_the_embedded_one(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, port_base=9000).console_link_base() == "http://127.0.0.1:9005"
    public = Settings(data_dir=tmp_path, console_public_url="https://console.example.gov.vn/")
    assert public.console_link_base() == "https://console.example.gov.vn"


def test_environment_configures_and_explicit_values_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTQ_PORT_BASE", "7000")
    monkeypatch.setenv("ANTQ_TIPS_DATABASE_URL", "postgresql+asyncpg://antq@db/tips")
    s = Settings()
    assert s.http_port_for("units") == 7001
    assert s.database_url_for("tips") == "postgresql+asyncpg://antq@db/tips"
    assert Settings(port_base=7100).http_port_for("units") == 7101
    env = child_environment(Settings(data_dir=tmp_path, nats_port=4300, port_base=8000), "notify", base={})
    assert env["ANTQ_NATS_URL"] == "nats://127.0.0.1:4300" and env["ANTQ_HTTP_PORT"] == "8004"


def test_namespace_prefixes_subjects_and_streams_only_when_set() -> None:
    assert Namespace("").subject("antq.tips.TipReceived.v1") == "antq.tips.TipReceived.v1"
    ns = Namespace("t1")
    assert ns.subject("antq.tips.TipReceived.v1") == "t1.antq.tips.TipReceived.v1"
    assert ns.strip("t1.antq.tips.TipReceived.v1") == "antq.tips.TipReceived.v1"  # noqa: B005 — Namespace.strip, not str.strip
    assert ns.stream("TIPS") == "t1_TIPS"


def test_dlq_subject_and_stream_registry() -> None:
    assert dlq_subject("notify", "antq.tips.TipReceived.v1") == "antq.dlq.notify.antq.tips.TipReceived.v1"
    assert dlq_subject("units", "bad subject!*") == "antq.dlq.units.unknown"
    assert stream_for_subject("antq.inbound.mia-app.IncidentReported.v1").name == "INBOUND"
    assert stream_for_subject("antq.inbound.mia-app.TipSubmitted.v1").name == "INBOUND_TIPS"
    for unheld in ("other.thing", "antq.inbound.mia-app.Bogus.v1"):
        with pytest.raises(KeyError):
            stream_for_subject(unheld)


def test_forwarded_tips_have_a_work_queue_stream_that_overlaps_no_other() -> None:
    """NATS refuses overlapping stream subjects, and a work-queue stream removes what was processed."""
    by_name = {spec.name: spec for spec in STREAMS}
    assert by_name["INBOUND_TIPS"].retention == "workqueue"
    assert all(spec.retention == "limits" for spec in STREAMS if spec.name != "INBOUND_TIPS")
    patterns = [(spec.name, p) for spec in STREAMS for p in spec.subjects]
    for name, pattern in patterns:
        sample = pattern.replace("*", "x").replace(">", "x")
        assert [n for n, p in patterns if subject_matches(p, sample)] == [name], pattern


@pytest.mark.parametrize(("name", "ok"), [("mia-app", True), ("so-gd-79", True), ("MIA", False),
                                           ("a.b", False), ("", False), ("-x", False)])
def test_agency_names_are_single_lowercase_subject_tokens(name: str, ok: bool) -> None:
    assert valid_agency_name(name) is ok


def test_every_service_that_consumes_an_inbound_stream_may_answer_its_refusals() -> None:
    """The spine answers every refused inbound message with InboundRejected.v1 on the agency's reply subject: a
    service consuming an inbound stream without permission to publish there would retry its refusals forever."""
    from services.bus import consumed_streams
    from shared.bus.permissions import service_user
    from shared.contracts.subjects import OUTBOUND_PUBLISHERS, outbound_subject

    inbound = {spec.name for spec in STREAMS if any(p.startswith("antq.inbound.") for p in spec.subjects)}
    readers = {service for service, streams in consumed_streams().items() if inbound & set(streams)}
    assert readers == {"tips", "units"}
    assert set(OUTBOUND_PUBLISHERS["InboundRejected.v1"]) == readers
    for service in readers:
        user = service_user(service, consumed_streams()[service])
        assert user.publish is not None
        assert outbound_subject("*", "InboundRejected.v1") in user.publish
        assert "$JS.API.STREAM.INFO.OUTBOUND" in user.publish
    replies = stream_for_subject(outbound_subject("mia-app", "TipAccepted.v1"))
    assert replies.name == "OUTBOUND" and replies.retention == "limits" and replies.max_age_days == 30
