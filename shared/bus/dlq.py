"""Operator tools for the dead-letter queue: list what is there and replay messages after a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError

from shared.bus.streams import Namespace, connect_options
from shared.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    subject: str
    original_subject: str
    consumer: str
    kind: str
    reason: str
    at: str
    size: int
    # Set when the consumer keeps no body (forwarded tips): which agency's message, under which reference.
    agency: str = ""
    reference: str = ""
    body_kept: bool = True

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def _connect(settings: Settings) -> Any:
    opts = connect_options(settings, "antq-dlq-tool")
    opts["max_reconnect_attempts"] = 2
    return await nats.connect(**opts)


def _dead_letter(seq: int, subject: str, headers: dict[str, str], size: int) -> DeadLetter:
    return DeadLetter(seq=seq, subject=subject, original_subject=headers.get("Antq-Dlq-Original-Subject", ""),
                      consumer=headers.get("Antq-Dlq-Consumer", ""), kind=headers.get("Antq-Dlq-Kind", ""),
                      reason=headers.get("Antq-Dlq-Reason", ""), at=headers.get("Antq-Dlq-Time", ""), size=size,
                      agency=headers.get("Antq-Dlq-Agency", ""), reference=headers.get("Antq-Dlq-Reference", ""),
                      body_kept=headers.get("Antq-Dlq-Body") != "dropped")


async def list_dead_letters(settings: Settings, *, limit: int = 100, service: str | None = None) -> list[DeadLetter]:
    nc = await _connect(settings)
    try:
        return await read_dead_letters(nc.jetstream(), Namespace(settings.namespace), limit=limit, service=service)
    finally:
        await nc.close()


async def read_dead_letters(js: Any, ns: Namespace, *, limit: int = 100, service: str | None = None
                            ) -> list[DeadLetter]:
    """The DLQ's records, oldest first: every service's, or one service's (`antq.dlq.<service>.>`, asked of the
    server by subject, so only that service's records are read). Bodies are never returned, only their size."""
    stream = ns.stream("DLQ")
    out: list[DeadLetter] = []
    wanted = ns.subject(f"antq.dlq.{service}.>") if service else ns.subject("antq.dlq.>")
    seq = 1
    while len(out) < limit:
        try:
            msg = await js.get_msg(stream, seq, subject=wanted, next=True)
        except NotFoundError:
            break
        out.append(_dead_letter(msg.seq, ns.strip(msg.subject or ""), dict(msg.headers or {}), len(msg.data or b"")))
        seq = msg.seq + 1
    return out


async def replay(settings: Settings, seqs: list[int], *, delete: bool = True) -> list[tuple[int, str]]:
    """Publish DLQ messages back to their original subjects (with a fresh message id so JetStream accepts them
    again); consumers' inboxes keep an event that was already processed from taking effect twice."""
    ns = Namespace(settings.namespace)
    nc = await _connect(settings)
    results: list[tuple[int, str]] = []
    try:
        js = nc.jetstream()
        for seq in seqs:
            try:
                msg = await js.get_msg(ns.stream("DLQ"), seq)
            except NotFoundError:
                results.append((seq, "not found"))
                continue
            original = (msg.headers or {}).get("Antq-Dlq-Original-Subject")
            if (msg.headers or {}).get("Antq-Dlq-Body") == "dropped":
                results.append((seq, "not replayable: the message's body was not kept; the agency sends it again"))
                continue
            if not original:
                results.append((seq, "no original subject recorded"))
                continue
            await js.publish(ns.subject(original), msg.data or b"",
                             headers={"Nats-Msg-Id": f"replay:{seq}:{(msg.headers or {}).get('Antq-Dlq-Time', '')}"},
                             timeout=5)
            if delete:
                await js.delete_msg(ns.stream("DLQ"), seq)
            results.append((seq, f"replayed to {original}"))
        return results
    finally:
        await nc.close()
