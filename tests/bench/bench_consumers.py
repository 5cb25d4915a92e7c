"""Event processing of every consumer of every service, each against raw nats-py fetch+ack of the same messages.

One world (namespace, data directory) is loaded stream by stream, in the order the platform produces its events:
1. UNITS: units registered, their cycle registered, self-assessed, appraised and certified (one in ten with the
   recognitions of the two years before, so its certification owes a collective award);
2. TIPS: tips received, triaged, verified (one in five valuable, with a reward reference) and closed, in the
   communes of those units;
3. AWARDS: awards proposed for those units, approved and granted;
4. INBOUND and INBOUND_TIPS: an agency's units (`UnitUpserted`) and tips (`TipSubmitted`), then incidents at those units
   (`IncidentReported`, by the agency's own key of the unit).
After each load, every consumer of that stream is timed in turn in its own service process (`antq serve <svc>`;
the service's other consumers are caught up, so they idle), and a raw nats-py durable with the same filter,
starting at the first message that consumer has not acknowledged, is timed the same way (from the server's side:
first delivery to every matching message acknowledged; run twice, the faster kept). Each service's state carries
over from one load to the next, as in production: notify knows the units when the tips and awards arrive, the
incidents find the agency's units.

Counts are checked: every consumer's processed_events table gains a row for each event of the load of a type it
handles (and for each such event another service published on the stream since the consumer last ran, which is
why `events` can exceed `of_the_load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from shared import places
from shared.bus.streams import DurableSpec, Namespace, consumer_config, stream_config
from shared.contracts.envelope import new_event
from shared.contracts.events import (
    AwardApproved,
    AwardGranted,
    AwardProposed,
    CycleRegistered,
    TipClosed,
    TipReceived,
    TipTriaged,
    TipVerified,
    UnitAppraised,
    UnitCertified,
    UnitRegistered,
    UnitSelfAssessed,
    UnitUpdated,
)
from shared.contracts.subjects import STREAMS, subject_matches
from shared.settings import Settings
from tests.bench.common import Timed, World, raw_fetch_and_ack, service_process, watch_processed

HCMC = places.communes_of("79")  # real communes: every service checks areas against the national list

AGENCY = "bench-registry"
PER_COMMUNE = 200
HISTORY_EVERY = 10
VALUABLE_EVERY = 5
CATEGORIES = ("theft", "drugs", "fraud", "cybercrime", "gambling", "public_order")

Message = tuple[str, bytes, str]  # (subject without the namespace, payload, event id)


@dataclass(frozen=True)
class Target:
    """One consumer: the service process that runs it, its durable's name, its stream, filter and handled types."""

    service: str
    name: str
    stream: str
    subject: str
    handles: frozenset[str]

    @property
    def durable(self) -> str:
        return f"{self.service}-{self.name}"


def _types(*models: Any) -> frozenset[str]:
    return frozenset(m.TYPE for m in models)


UNITS_ALL = "antq.units.>"
TARGETS: dict[str, list[Target]] = {
    "units": [
        Target("tips", "units", "UNITS", UNITS_ALL, _types(UnitRegistered, UnitUpdated)),
        Target("awards", "units", "UNITS", UNITS_ALL, _types(UnitRegistered, UnitCertified)),
        Target("notify", "units", "UNITS", UNITS_ALL,
               _types(UnitRegistered, CycleRegistered, UnitSelfAssessed, UnitAppraised, UnitCertified)),
    ],
    "tips": [
        Target("notify", "tips", "TIPS", "antq.tips.>", _types(TipReceived, TipTriaged, TipVerified, TipClosed)),
        Target("awards", "tips", "TIPS", "antq.tips.>", _types(TipReceived, TipTriaged, TipVerified)),
    ],
    "awards": [
        Target("notify", "awards", "AWARDS", "antq.awards.>", _types(AwardProposed, AwardApproved, AwardGranted)),
    ],
    "inbound": [
        Target("tips", "inbound", "INBOUND_TIPS", "antq.inbound.*.TipSubmitted.v1", frozenset({"TipSubmitted.v1"})),
        Target("units", "inbound-units", "INBOUND", "antq.inbound.*.UnitUpserted.v1",
               frozenset({"UnitUpserted.v1"})),
    ],
    "incidents": [
        Target("units", "inbound-incidents", "INBOUND", "antq.inbound.*.IncidentReported.v1",
               frozenset({"IncidentReported.v1"})),
    ],
}


# --- the loads -----------------------------------------------------------------------------------------------
def _event(data: Any, when: datetime | None = None, source: str = "antq/units") -> Message:
    env = new_event(data, source=source, time=when)
    return data.TYPE, env.to_bytes(), env.id


def units_load(n_units: int) -> tuple[list[Message], list[tuple[str, str]]]:
    """Five events per unit (and two recognitions before for one in HISTORY_EVERY); the (unit id, area) list."""
    out: list[Message] = []
    units = []
    decided = datetime(2026, 11, 20, 2, tzinfo=UTC)
    for i in range(n_units):
        unit_id, area = str(uuid.uuid4()), HCMC[(i // PER_COMMUNE) % len(HCMC)].code
        units.append((unit_id, area))
        history = i % HISTORY_EVERY == 0
        out.append(_event(UnitRegistered(unit_id=unit_id, name=f"Công ty TNHH Sản xuất {i:05d}", kind="enterprise",
                                         area_code=area, in_scope=True)))
        if history:
            for years, year in enumerate((2024, 2025), start=1):
                when = datetime(year, 11, 20, 2, tzinfo=UTC)
                out.append(_event(UnitCertified(unit_id=unit_id, year=year, rating="good",
                                                decision_no=f"{i}/{year}/QĐ-UBND", decided_at=when,
                                                decided_by_level="commune", consecutive_years=years), when))
        out.append(_event(CycleRegistered(unit_id=unit_id, year=2026, registered_at=datetime(2026, 2, 10, tzinfo=UTC),
                                          late=False)))
        out.append(_event(UnitSelfAssessed(unit_id=unit_id, year=2026, criteria_met=7, criteria_total=7)))
        out.append(_event(UnitAppraised(unit_id=unit_id, year=2026, recommended=True)))
        out.append(_event(UnitCertified(unit_id=unit_id, year=2026, rating="good", decision_no=f"{i}/2026/QĐ-UBND",
                                        decided_at=decided, decided_by_level="commune",
                                        consecutive_years=3 if history else 1), decided))
    return out, units


def tips_load(n_tips: int, units: list[tuple[str, str]]) -> list[Message]:
    """Four events per tip: received, triaged, verified, closed; one in VALUABLE_EVERY valuable."""
    out: list[Message] = []
    now = datetime.now(UTC)
    for i in range(n_tips):
        tip_id, (unit_id, area) = str(uuid.uuid4()), units[i % len(units)]
        category = CATEGORIES[i % len(CATEGORIES)]
        valuable = i % VALUABLE_EVERY == 0
        outcome = "prosecuted" if valuable else "unfounded"
        src = "antq/tips"
        out.append(_event(TipReceived(tip_id=tip_id, category=category, channel="web", area_code=area,
                                      unit_id=unit_id if i % 2 else None, anonymous=True, priority="normal",
                                      received_at=now), source=src))
        out.append(_event(TipTriaged(tip_id=tip_id, category=category, priority="normal", assigned_area=area,
                                     due_at=now + timedelta(days=20)), source=src))
        out.append(_event(TipVerified(tip_id=tip_id, valuable=valuable, outcome=outcome,
                                      reward_ref=f"rw-{uuid.uuid4().hex}" if valuable else None), source=src))
        out.append(_event(TipClosed(tip_id=tip_id, outcome=outcome), source=src))
    return out


def awards_load(n_awards: int, units: list[tuple[str, str]]) -> list[Message]:
    """Three events per award: proposed, approved, granted; collective awards of the units."""
    out: list[Message] = []
    for i in range(n_awards):
        award_id, (unit_id, _) = str(uuid.uuid4()), units[i % len(units)]
        src = "antq/awards"
        out.append(_event(AwardProposed(award_id=award_id, award_type="collective_merit", recipient_kind="unit",
                                        recipient_ref=unit_id, year=2026, basis=[str(uuid.uuid4())],
                                        level="province"), source=src))
        out.append(_event(AwardApproved(award_id=award_id, decision_no=f"{i}/QĐ-UBND", approved_by_level="province"),
                          source=src))
        out.append(_event(AwardGranted(award_id=award_id, certificate_id=str(uuid.uuid4())), source=src))
    return out


def _inbound(type_: str, data: dict[str, Any]) -> Message:
    eid = str(uuid.uuid4())
    body = {"specversion": "1.0", "id": eid, "source": f"agency/{AGENCY}", "type": type_,
            "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json", "data": data}
    return f"antq.inbound.{AGENCY}.{type_}", json.dumps(body, ensure_ascii=False).encode(), eid


# Forwarded tips' texts: composed from these parts, so that tips at one place differ as real reports do (the
# duplicate finder compares each with the earlier tips of its place, and near-identical texts all pass its size
# bound); a few repeat an earlier tip's text, as a second report of the same thing does.
_WHAT = ("nghi vấn buôn bán ma túy", "tụ tập đánh bạc ăn tiền", "lừa đảo qua mạng xã hội", "trộm cắp xe máy",
         "cho vay nặng lãi", "gây rối trật tự công cộng", "tàng trữ hàng cấm", "mua bán hàng giả",
         "đua xe trái phép", "cưỡng đoạt tài sản", "làm giả giấy tờ", "vận chuyển pháo nổ")
_WHERE = ("gần chợ", "trong hẻm", "tại quán cà phê", "bên cạnh trường học", "ở bãi giữ xe", "sau nhà văn hóa",
          "trước cổng khu công nghiệp", "tại tiệm cầm đồ", "trong khu trọ", "ở bến xe")
_WHEN = ("vào buổi tối", "khoảng nửa đêm", "sáng sớm hằng ngày", "cuối tuần", "nhiều ngày liên tiếp", "chiều qua")
_DETAIL = ("có khoảng {k} người tham gia", "thường đi xe biển số 59-{k:04d}", "đã kéo dài {k} tháng",
           "người dân xung quanh rất bức xúc", "có cả người ngoài địa phương", "giao dịch bằng tiền mặt",
           "liên lạc qua nhóm kín trên mạng", "đã được báo lần trước nhưng vẫn tiếp diễn")
_STREETS = ("Nguyễn Huệ", "Lê Lợi", "Hai Bà Trưng", "Trần Hưng Đạo", "Cách Mạng Tháng Tám", "Điện Biên Phủ",
            "Nguyễn Trãi", "Lý Thường Kiệt", "Phan Đình Phùng", "Võ Văn Kiệt", "Lê Văn Sỹ", "Quang Trung")
_REPORTERS = ("Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường", "Phạm Minh Dũng", "Võ Thị Hạnh", "Đặng Quốc Khánh")


def _forwarded_text(i: int, rng: random.Random, earlier: list[str]) -> str:
    if earlier and rng.random() < 0.05:
        return rng.choice(earlier)
    return (f"Tin chuyển từ ứng dụng quốc gia: {rng.choice(_WHAT)} {rng.choice(_WHERE)} số {rng.randint(1, 400)} "
            f"đường {rng.choice(_STREETS)}, {rng.choice(_WHEN)}; {rng.choice(_DETAIL).format(k=rng.randint(2, 30))}."
            + (f" {rng.choice(_DETAIL).format(k=rng.randint(2, 30))}." if rng.random() < 0.5 else ""))


def inbound_load(n: int, identity_jwks: dict[str, Any] | None = None) -> list[Message]:
    """An agency's units and tips, alternating. With `identity_jwks` (the tips service's public keys), one tip in
    two carries its reporter's identity sealed to it (`reporter_jwe`), as an agency forwards an identified tip."""
    from services.tips.domain.sealed import seal

    rng = random.Random(n)
    texts: list[str] = []
    out: list[Message] = []
    for i in range(n):
        if i % 2:
            tip: dict[str, Any] = {
                "category": CATEGORIES[i % len(CATEGORIES)], "area_code": HCMC[i % 50].code,
                "description": _forwarded_text(i, rng, texts), "anonymous": True, "reference": f"tip-{i}"}
            texts.append(tip["description"])
            if identity_jwks is not None and i % 4 == 1:
                tip["anonymous"] = False
                identity = {"name": rng.choice(_REPORTERS), "phone": f"09{rng.randint(0, 10**8 - 1):08d}"}
                tip["reporter_jwe"] = seal(identity, identity_jwks)
            out.append(_inbound("TipSubmitted.v1", tip))
        else:
            out.append(_inbound("UnitUpserted.v1", {
                "external_key": f"reg-{i}", "name": f"Công ty TNHH Đăng ký {i:05d}", "kind": "enterprise",
                "area_code": HCMC[i % 50].code, "address": f"{i} Nguyễn Huệ", "reference": f"unit-{i}"}))
    return out


def agency_keys(world: World) -> dict[str, Any]:
    """The keys a forwarding agency and the tips service exchange, as deployed: the tips service's inbound key
    (created as its first start would; its public JWK set is what the agency seals identities to) and the agency's
    registered public key (receipts of its tips are sealed to it). Returns the tips service's public JWK set."""
    from joserfc.jwk import ECKey

    from services.tips import keys

    settings = world.settings()
    identity_jwks = keys.inbound_keys(settings).ensure().jwks()
    agency = ECKey.generate_key("P-256", private=True)
    keys.register_agency_key(settings, AGENCY, {"keys": [dict(agency.as_dict(private=False))]})
    return identity_jwks


def incidents_load(n_inbound: int) -> list[Message]:
    """Half as many incidents as the inbound load's messages, at the agency's units (by its key of the unit)."""
    keys = [f"reg-{i}" for i in range(0, n_inbound, 2)]
    return [_inbound("IncidentReported.v1", {
        "unit_external_key": keys[i % len(keys)], "category": "strike_prevented",
        "occurred_at": (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
        "description": "Ngăn chặn kịp thời một vụ ngừng việc.", "reference": f"incident-{i}"})
        for i in range(max(1, n_inbound // 2))]


# --- timing --------------------------------------------------------------------------------------------------
async def _publish(js: Any, namespace: str, messages: list[Message], window: int = 500) -> list[tuple[str, int]]:
    """Publish with PubAcks awaited `window` at a time; (namespaced subject, stream sequence) of each."""
    out: list[tuple[str, int]] = []
    for i in range(0, len(messages), window):
        part = [(f"{namespace}.{s}", p, mid) for s, p, mid in messages[i:i + window]]
        acks = await asyncio.gather(*(js.publish(s, p, headers={"Nats-Msg-Id": mid}, timeout=30)
                                      for s, p, mid in part))
        out.extend((s, a.seq) for (s, _, _), a in zip(part, acks, strict=True))
    return out


async def _raw(nc: Any, stream: str, subject: str, *, start_seq: int, batch: int, timeout: float) -> tuple[int, Timed]:
    """Raw nats-py fetch+ack of the filter's messages from `start_seq` on: (how many, their timing)."""
    js = nc.jetstream()
    durable = f"bench-raw-{uuid.uuid4().hex[:8]}"
    spec = DurableSpec(stream=stream, durable=durable, filter_subject=subject, ack_wait=30)
    config = dataclasses.replace(consumer_config(spec), deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=start_seq)
    await js.add_consumer(stream, config)
    n = int((await js.consumer_info(stream, durable)).num_pending)  # before any delivery: harmless
    try:
        return n, await raw_fetch_and_ack(nc, stream, durable, n=n, batch=batch, timeout=timeout)
    finally:
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, durable)


async def _position(js: Any, stream: str, durable: str) -> tuple[int, int]:
    """(messages delivered so far, first stream sequence not yet acknowledged) of a durable; (0, 1) if new."""
    from nats.js.errors import NotFoundError

    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return 0, 1
    return int(info.delivered.consumer_seq), int(info.ack_floor.stream_seq) + 1


async def _acked(js: Any, stream: str, durable: str, expected: int, timeout: float = 30) -> bool:
    """Whether the durable acknowledged everything up to stream sequence `expected` (asked after the run)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        info = await js.consumer_info(stream, durable)
        if info.num_ack_pending == 0 and info.ack_floor.stream_seq >= expected:
            return True
        await asyncio.sleep(0.05)
    return False


def _processed_count(world: World, service: str, durable: str) -> int:
    path = world.data_dir / f"{service}.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM processed_events WHERE consumer = ?", (durable,)).fetchone()[0])
    finally:
        db.close()


async def _service(world: World, target: Target, *, handled: int, processed_before: int, batch: int,
                   timeout: float) -> Timed:
    """The target's service process started on its pending messages, timed by its own processed_events table."""
    proc = service_process(world, target.service, {"ANTQ_CONSUMER_BATCH_SIZE": str(batch)}).start()
    try:
        # Watch from the start: the consumer works before the service reports ready.
        watch = asyncio.create_task(watch_processed(world.data_dir / f"{target.service}.db", target.durable,
                                                    expected=handled, before=processed_before, timeout=timeout,
                                                    cpu_of=proc.pid))
        await proc.wait_ready()
        return await watch
    finally:
        proc.stop()


async def run(nats_url: str, *, n: int = 3000, batch: int | None = None, timeout: float = 300) -> dict[str, Any]:
    """At least `n` events for every consumer: `n` units (about 5.2 events each: every consumer of the units
    load sees at least their `n` registrations), tips and awards loads of `n` events, `n` forwarded tips and `n`
    registry records, `n` incidents. Each consumer should see ten batches or more: its pace is measured from its
    first batch to its last."""
    world = World(nats_url)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    results: dict[str, Any] = {}
    try:
        settings = world.settings()
        batch = batch or settings.consumer_batch_size
        await _declare_streams(js, settings)
        unit_msgs, units = units_load(max(1, n))
        loads = [("units", unit_msgs), ("tips", tips_load(max(1, n // 4), units)),
                 ("awards", awards_load(max(1, n // 3), units)), ("inbound", inbound_load(2 * n, agency_keys(world))),
                 ("incidents", incidents_load(2 * n))]
        for load, messages in loads:
            published = await _publish(js, world.namespace, messages)
            by_type = [(s, seq, s.split(".", 1)[1]) for s, seq in published]
            for target in TARGETS[load]:
                pattern = f"{world.namespace}.{target.subject}"
                matching = [(seq, t) for s, seq, t in by_type if subject_matches(pattern, s)]
                handled = sum(1 for _, t in matching if _handled(t, target))
                expected = max(seq for seq, _ in matching)
                stream = f"{world.namespace}_{target.stream}"
                # The same messages for both: everything the service's durable has not acknowledged yet, which
                # besides this load may hold events another service published since (awards' proposals).
                _, start = await _position(js, stream, target.durable)
                # The raw baseline twice, the faster kept: a single short run moves with the server's moment.
                raws = [await _raw(nc, stream, pattern, start_seq=start, batch=batch, timeout=timeout)
                        for _ in range(2)]
                n_all, raw = max(raws, key=lambda r: r[1].rate)
                processed_before = _processed_count(world, target.service, target.durable)
                # Its processed_events table gains a row for each event of a handled type: of this load, and of
                # events other services published on the stream since it last ran (all of a type it handles, here).
                handled_all = handled + (n_all - len(matching))
                svc = await _service(world, target, handled=handled_all, processed_before=processed_before, batch=batch,
                                     timeout=timeout)
                # processed_events counts the handled events only: the pace of all the consumer's messages scales by
                # the share of them it handles (the same all through a load).
                rate = svc.rate * n_all / handled_all
                acked = await _acked(js, stream, target.durable, expected)  # after the run: harmless
                results[target.durable] = {
                    "load": load, "events": n_all, "of_the_load": len(matching), "handled": handled,
                    "processed": _processed_count(world, target.service, target.durable) - processed_before,
                    "all_acknowledged": acked,
                    "events_per_s": round(rate, 1),
                    "cpu_ms_per_event": round(svc.cpu_s / (svc.events * n_all / handled_all) * 1000, 3),
                    "raw_events_per_s": round(raw.rate, 1), "raw_cpu_ms_per_event": round(raw.cpu_ms_per_event(), 3),
                    "ratio": round(rate / raw.rate, 3)}
        return {"fetch_batch": batch, "consumers": results}
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        world.cleanup()


async def _declare_streams(js: Any, settings: Settings) -> None:
    """The registry's streams, every one with limits retention: the bench reads each message twice (the raw
    baseline, then the service), and a work-queue stream (INBOUND_TIPS) would remove it after the first read.
    Retention does not change how a consumer fetches and acknowledges, which is what is measured here."""
    ns = Namespace(settings.namespace)
    for spec in STREAMS:
        await js.add_stream(stream_config(ns.stream(spec.name), [ns.subject(s) for s in spec.subjects], settings,
                                          spec.description))


def _handled(subject_type: str, target: Target) -> bool:
    """Whether a message of this subject (without the namespace) is one the target acts on."""
    if subject_type.startswith("antq.inbound."):
        return subject_type.split(".", 3)[3] in target.handles
    return subject_type in target.handles
