"""The consumers' pull loop (shared/bus/pull.py) against a real nats-server: what each consumer relies on, pinned
here so that a change of nats-py or of the server that breaks it fails a test rather than a deployment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.bus.pull import PullLoop, pull_batch
from shared.bus.streams import DurableSpec, reconcile_consumer
from shared.testing import eventually

DURABLE = "pulltest-events"


@pytest.fixture
async def js(nats_url: str, namespace: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=f"{namespace}_PULL", subjects=[f"{namespace}.pull.>"])
    await reconcile_consumer(js, DurableSpec(stream=f"{namespace}_PULL", durable=DURABLE,
                                             filter_subject=f"{namespace}.pull.>", ack_wait=30))
    try:
        yield js
    finally:
        await nc.close()


async def _publish(js: JetStreamContext, namespace: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await js.publish(f"{namespace}.pull.e", str(i).encode())


def _loop(namespace: str, handle: Any, batch: int) -> PullLoop:
    return PullLoop(stream=f"{namespace}_PULL", durable=DURABLE, handle=handle, batch=batch, more_wait=0.05,
                    inbox_prefix=b"_INBOX.pulltest.")


async def _ack_all(messages: list[Msg]) -> None:
    for msg in messages:
        await msg.ack()


async def test_a_batch_is_whatever_waits_up_to_the_batch_size_and_every_message_is_handled_once(
        js: JetStreamContext, namespace: str) -> None:
    await _publish(js, namespace, 25)
    batches: list[list[bytes]] = []

    async def handle(messages: list[Msg]) -> None:
        batches.append([m.data for m in messages])
        await _ack_all(messages)

    loop = _loop(namespace, handle, batch=10)
    await loop.start(js)
    try:
        await eventually(lambda: _count(batches, 25), what="25 messages handled")
    finally:
        await loop.stop()
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [int(d) for b in batches for d in b] == list(range(25))  # in stream order, none twice
    info = await js.consumer_info(f"{namespace}_PULL", DURABLE)
    assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)


async def _count(batches: list[list[bytes]], n: int) -> bool:
    return sum(len(b) for b in batches) >= n


async def test_an_idle_consumer_waits_in_one_long_poll_not_a_stream_of_short_pulls(
        js: JetStreamContext, nats_url: str, namespace: str) -> None:
    """FastStream's batch loop sent a pull request every `timeout` (50 ms) while idle; their expiries raced
    deliveries on the server. One idle second here is one request, then a message arriving is handled."""
    watcher = await nats.connect(nats_url)
    requests: list[bytes] = []

    async def seen(msg: Msg) -> None:
        requests.append(msg.data)

    await watcher.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{namespace}_PULL.{DURABLE}", cb=seen)
    await watcher.flush()
    batches: list[list[bytes]] = []

    async def handle(messages: list[Msg]) -> None:
        batches.append([m.data for m in messages])
        await _ack_all(messages)

    loop = _loop(namespace, handle, batch=100)
    await loop.start(js)
    try:
        await eventually(lambda: _truthy(requests), what="the first pull request")
        await asyncio.sleep(1.0)  # an idle second (not a timed assertion: requests are counted, not timed)
        assert len(requests) == 1, requests
        assert b'"expires"' in requests[0]
        await _publish(js, namespace, 1)
        await eventually(lambda: _count(batches, 1), what="the message handled")
    finally:
        await loop.stop()
        await watcher.close()


async def _truthy(xs: list[Any]) -> bool:
    return bool(xs)


async def test_stopping_finishes_the_batch_in_hand_and_hands_back_the_one_fetched_ahead(
        js: JetStreamContext, namespace: str) -> None:
    await _publish(js, namespace, 20)
    started, release = asyncio.Event(), asyncio.Event()
    batches: list[list[bytes]] = []

    async def handle(messages: list[Msg]) -> None:
        batches.append([m.data for m in messages])
        started.set()
        await release.wait()
        await _ack_all(messages)

    loop = _loop(namespace, handle, batch=5)
    await loop.start(js)
    await asyncio.wait_for(started.wait(), 10)

    async def ahead_fetched() -> bool:  # the batch in hand and the one fetched ahead
        return (await js.consumer_info(f"{namespace}_PULL", DURABLE)).num_ack_pending == 10

    await eventually(ahead_fetched, what="the next batch fetched ahead")
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)
    release.set()
    await stopping
    assert not loop.alive
    assert len(batches) == 1  # nothing handled after the stop

    async def in_hand_acknowledged() -> bool:  # the batch in hand finished and was acknowledged
        return (await js.consumer_info(f"{namespace}_PULL", DURABLE)).ack_floor.stream_seq == 5

    await eventually(in_hand_acknowledged, what="the batch in hand acknowledged")
    # The batch fetched ahead was handed back (NAK): it is delivered again at once, not after ack_wait (30 s).
    psub = await js.pull_subscribe_bind(DURABLE, f"{namespace}_PULL")
    again = await pull_batch(psub, 15, first_wait=5, more_wait=0.5)
    assert sorted(int(m.data) for m in again) == list(range(5, 20))
    assert sorted(m.metadata.num_delivered for m in again)[-5:] == [2] * 5


async def test_a_batch_whose_handler_raises_does_not_stop_the_loop(js: JetStreamContext, namespace: str) -> None:
    await _publish(js, namespace, 1)
    batches: list[list[bytes]] = []

    async def handle(messages: list[Msg]) -> None:
        batches.append([m.data for m in messages])
        if len(batches) == 1:
            raise RuntimeError("a broken handler")
        await _ack_all(messages)

    loop = _loop(namespace, handle, batch=10)
    await loop.start(js)
    try:
        await eventually(lambda: _count(batches, 1), what="the first batch")
        await _publish(js, namespace, 1, start=1)
        await eventually(lambda: _count(batches, 2), what="a later batch")
        assert loop.alive
    finally:
        await loop.stop()
    assert batches == [[b"0"], [b"1"]]


async def test_the_parts_of_a_nats_py_pull_subscription_that_pull_batch_reads_are_there(
        js: JetStreamContext, namespace: str) -> None:
    """pull_batch reads nats-py's pull subscription directly (its fetch costs a task and a timer per message):
    if nats-py renames these, this test says which."""
    psub = await js.pull_subscribe_bind(DURABLE, f"{namespace}_PULL")
    try:
        assert isinstance(psub._sub._pending_queue, asyncio.Queue)
        assert isinstance(psub._sub._pending_size, int)
        assert psub._nms == f"$JS.API.CONSUMER.MSG.NEXT.{namespace}_PULL.{DURABLE}"
        assert isinstance(psub._deliver, str) and psub._deliver.startswith("_INBOX.")
        assert psub._nc.is_connected
    finally:
        await psub.unsubscribe()
