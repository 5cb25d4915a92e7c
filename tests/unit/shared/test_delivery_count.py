"""The consumer reads a message's delivery count from its reply subject as nats-py's own metadata does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg

from shared.bus.consumer import _deliveries

names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
counts = st.integers(min_value=1, max_value=10**9)
seqs = st.integers(min_value=0, max_value=2**63 - 1)


def _msg(reply: str) -> Msg:
    return Msg(_client=None, subject="antq.tips.TipReceived.v1", reply=reply, data=b"{}")  # type: ignore[arg-type]


@given(names, names, counts, seqs, seqs, seqs, seqs)
def test_v1_reply_subjects(stream: str, consumer: str, delivered: int, sseq: int, cseq: int, ts: int,
                           pending: int) -> None:
    msg = _msg(f"$JS.ACK.{stream}.{consumer}.{delivered}.{sseq}.{cseq}.{ts}.{pending}")
    assert _deliveries(msg) == msg.metadata.num_delivered == delivered


@given(st.sampled_from(["_", "hub"]), names, names, names, counts, seqs, seqs, seqs, st.booleans())
def test_v2_reply_subjects(domain: str, account: str, stream: str, consumer: str, delivered: int, sseq: int,
                           cseq: int, pending: int, token: bool) -> None:
    reply = (f"$JS.ACK.{domain}.{account}.{stream}.{consumer}.{delivered}.{sseq}.{cseq}.1700000000000000000."
             f"{pending}" + (".abc" if token else ""))
    msg = _msg(reply)
    assert _deliveries(msg) == msg.metadata.num_delivered == delivered


def test_a_core_message_counts_as_delivered_once() -> None:
    assert _deliveries(_msg("")) == 1
    assert _deliveries(_msg("_INBOX.abc")) == 1
    assert _deliveries(_msg("$JS.ACK.too.short")) == 1
