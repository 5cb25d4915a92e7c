"""A presented receipt finds its reward_ref however the reporter retyped it; nothing else matches."""

from __future__ import annotations

import pytest

from services.awards.domain.claims import grouped_receipt, reward_refs_for_claim
from shared.errors import Invalid
from shared.rewards import reward_ref_for_receipt

ISSUED = "7K2M-QX9D-4F8T-ZR1C-AB3D-EF5G-HJ6K"


@pytest.mark.parametrize("typed", [ISSUED, ISSUED.lower(), ISSUED.replace("-", ""), f"  {ISSUED} ",
                                   "7k2m qx9d 4f8t zrIc ab3d ef5g hj6k"])
def test_retyped_receipts_find_the_issued_reference(typed: str) -> None:
    assert reward_ref_for_receipt(ISSUED) in reward_refs_for_claim(typed)


def test_other_text_matches_only_its_own_hash() -> None:
    assert grouped_receipt("not a receipt!") is None
    assert reward_refs_for_claim("hello") == [reward_ref_for_receipt("hello")]
    assert reward_ref_for_receipt(ISSUED) not in reward_refs_for_claim(ISSUED.replace("7", "8"))
    with pytest.raises(Invalid):
        reward_refs_for_claim("   ")
