"""Anonymous reward claims: the reward references a presented receipt may stand for."""

from __future__ import annotations

from shared.rewards import normalise_receipt, reward_ref_for_receipt

# Receipts are Crockford base32 shown in groups of four (`ABCD-EFGH-...`). Reporters retype them: lower case,
# no hyphens, I/L for 1 and O for 0 all mean the same receipt, so the grouped form is tried as well.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: c for c in _CROCKFORD} | {"I": "1", "L": "1", "O": "0"}
_GROUP = 4


def grouped_receipt(receipt: str) -> str | None:
    """The receipt in its issued grouped form, or None when the text cannot be a Crockford receipt."""
    symbols = []
    for char in receipt.upper():
        if char in " -\t\r\n":
            continue
        decoded = _DECODE.get(char)
        if decoded is None:
            return None
        symbols.append(decoded)
    if not symbols or len(symbols) % _GROUP:
        return None
    code = "".join(symbols)
    return "-".join(code[i:i + _GROUP] for i in range(0, len(code), _GROUP))


def reward_refs_for_claim(receipt: str) -> list[str]:
    """Every reward_ref the receipt may match: as typed (normalised) and in its grouped form (Invalid if empty)."""
    refs = [reward_ref_for_receipt(receipt)]
    grouped = grouped_receipt(normalise_receipt(receipt))
    if grouped is not None:
        ref = reward_ref_for_receipt(grouped)
        if ref not in refs:
            refs.append(ref)
    return refs
