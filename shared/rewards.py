"""The anonymous reward reference shared by tips (which issues it) and awards (which answers claims with it)."""

from __future__ import annotations

import hashlib

from shared.errors import Invalid

# Versioned domain tag: a reward_ref can never collide with any other sha256 of a receipt used elsewhere, and a
# future scheme (v2) can coexist with references already published in TipVerified events.
REWARD_REF_TAG = "antq-reward-ref-v1:"


def normalise_receipt(receipt: str) -> str:
    """The receipt as issued: outer whitespace dropped and upper-cased; inner spaces and hyphens are kept."""
    normalised = receipt.strip().upper()
    if not normalised:
        raise Invalid("receipt is empty", details={"field": "receipt"})
    return normalised


def reward_ref_for_receipt(receipt: str) -> str:
    """Hex sha256 of the domain tag and the normalised receipt; the only link between a reporter and a reward.

    Neither service stores the receipt next to the reference, so presenting the receipt proves the claim while
    no service learns who the reporter is.
    """
    return hashlib.sha256((REWARD_REF_TAG + normalise_receipt(receipt)).encode("utf-8")).hexdigest()
