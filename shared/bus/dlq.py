"""Operator tools for the dead-letter queue: list what is there and replay messages after a fix."""

from __future__ import annotations

import contextlib
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


async def list_dead_letters(settings: Settings, *, limit: int = 100, service: str | None = None) -> list[DeadLetter]:
    ns = Namespace(settings.namespace)
    nc = await _connect(settings)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(ns.stream("DLQ"))
        except NotFoundError:
            return []
        out: list[DeadLetter] = []
        if info.state.messages == 0:
            return out
        for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            with contextlib.suppress(NotFoundError):
                msg = await js.get_msg(ns.stream("DLQ"), seq)
                headers = msg.headers or {}
                subject = ns.strip(msg.subject or "")
                if service and not subject.startswith(f"antq.dlq.{service}."):
                    continue
                out.append(DeadLetter(seq=seq, subject=subject,
                                      original_subject=headers.get("Antq-Dlq-Original-Subject", ""),
                                      consumer=headers.get("Antq-Dlq-Consumer", ""),
                                      kind=headers.get("Antq-Dlq-Kind", ""),
                                      reason=headers.get("Antq-Dlq-Reason", ""),
                                      at=headers.get("Antq-Dlq-Time", ""), size=len(msg.data or b""),
                                      agency=headers.get("Antq-Dlq-Agency", ""),
                                      reference=headers.get("Antq-Dlq-Reference", ""),
                                      body_kept=headers.get("Antq-Dlq-Body") != "dropped"))
                if len(out) >= limit:
                    break
        return out
    finally:
        await nc.close()


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
