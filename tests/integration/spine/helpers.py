"""Helpers for spine tests: read a stream's messages straight from JetStream."""

from __future__ import annotations

import json
from typing import Any

import nats
from nats.js.errors import NotFoundError


async def stream_messages(nats_url: str, stream: str, subject_filter: str | None = None) -> list[dict[str, Any]]:
    """Every message in a stream as {subject, headers, data, body}, in order."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        out: list[dict[str, Any]] = []
        if info.state.messages == 0:
            return out
        for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            if subject_filter and not msg.subject.endswith(subject_filter):
                continue
            try:
                body = json.loads(msg.data or b"")
            except ValueError:
                body = None
            out.append({"subject": msg.subject, "headers": dict(msg.headers or {}), "data": msg.data,
                        "body": body})
        return out
    finally:
        await nc.close()


async def publish_raw(nats_url: str, subject: str, payload: bytes, msg_id: str | None = None) -> None:
    nc = await nats.connect(nats_url)
    try:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await nc.jetstream().publish(subject, payload, headers=headers, timeout=5)
    finally:
        await nc.close()
