"""The README's publisher for forwarding agencies seals an identity that the tips service opens, and the tips
service's own keyring refuses what it cannot open without echoing it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.tips.domain import InboundKeyring, UndecryptableIdentity

README = Path(__file__).resolve().parents[3] / "README.md"
IDENTITY = {"name": "Nguyễn Văn An", "phone": "0901 234 567",
            "on_behalf_of": {"org_name": "Hợp tác xã Bình Minh", "tax_code": None}}


def guide_seal() -> Any:
    """`seal` as the README gives it (its imports and the function, not the network part)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    [block] = [b for b in blocks if "def seal(" in b]
    namespace: dict[str, Any] = {}
    exec(block.split("async def main")[0], namespace)  # the documentation's own code
    return namespace["seal"]


def test_the_guides_publisher_seals_an_identity_the_service_opens_with_any_of_its_keys() -> None:
    keyring = InboundKeyring()
    keyring.rotate()
    old_jwks = keyring.jwks()
    keyring.rotate()  # a rotation: the new key is published first, the old one still opens
    seal = guide_seal()
    for jwks in (keyring.jwks(), old_jwks):
        opened = keyring.open(seal(IDENTITY, jwks))
        assert opened.model_dump() == {"name": "Nguyễn Văn An", "phone": "0901 234 567", "email": None,
                                       "id_number": None, "on_behalf_of": IDENTITY["on_behalf_of"]}


def test_an_identity_sealed_to_another_service_or_holding_no_identity_is_undecryptable_without_echo() -> None:
    ours, theirs = InboundKeyring(), InboundKeyring()
    ours.rotate()
    theirs.rotate()
    seal = guide_seal()
    for token in (seal(IDENTITY, theirs.jwks()), seal({"nickname": "Nguyễn Văn An"}, ours.jwks()), "a.b.c.d.e"):
        with pytest.raises(UndecryptableIdentity) as refused:
            ours.open(token)
        assert "Nguyễn" not in str(refused.value) and "0901" not in str(refused.value)


def test_the_jwk_set_holds_no_private_part() -> None:
    keyring = InboundKeyring()
    keyring.rotate()
    keyring.rotate()
    keys = keyring.jwks()["keys"]
    assert [k["kid"] for k in keys] == [keyring.current_kid, *(k for k in keyring.kids if k != keyring.current_kid)]
    assert all("d" not in k and k["use"] == "enc" and k["alg"] == "ECDH-ES" for k in keys)
