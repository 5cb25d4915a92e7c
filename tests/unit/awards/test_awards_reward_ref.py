"""The anonymous reward reference: one hash of the receipt as issued, the same for tips and awards."""

from __future__ import annotations

import hashlib

import pytest

from shared.errors import Invalid
from shared.rewards import REWARD_REF_TAG, reward_ref_for_receipt


def test_reward_ref_is_sha256_of_tag_and_receipt() -> None:
    expected = hashlib.sha256(b"antq-reward-ref-v1:AB12-CD34 EF56").hexdigest()
    assert REWARD_REF_TAG == "antq-reward-ref-v1:"
    assert reward_ref_for_receipt("AB12-CD34 EF56") == expected


def test_receipt_is_normalised_by_case_and_outer_whitespace_only() -> None:
    assert reward_ref_for_receipt("  ab12-cd34 ef56\n") == reward_ref_for_receipt("AB12-CD34 EF56")
    # Inner hyphens and spaces are part of the receipt as issued.
    assert reward_ref_for_receipt("AB12CD34EF56") != reward_ref_for_receipt("AB12-CD34-EF56")


def test_different_receipts_give_different_refs() -> None:
    assert reward_ref_for_receipt("AAAA-0001") != reward_ref_for_receipt("AAAA-0002")


@pytest.mark.parametrize("receipt", ["", "   ", "\t\n"])
def test_empty_receipt_is_invalid(receipt: str) -> None:
    with pytest.raises(Invalid):
        reward_ref_for_receipt(receipt)
