"""Local bearer tokens: signed, scoped, expiring, and refused when forged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.auth import Principal, TokenAuthority, load_or_create_key
from shared.errors import Unauthorized


def test_token_round_trip_carries_role_area_and_unit(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    p = authority.verify(authority.issue(role="unit", unit="u-1", area="79.26743", sub="bao-ve"))
    assert (p.role, p.unit, p.area, p.sub) == ("unit", "u-1", "79.26743", "bao-ve")


def test_expired_token_is_refused(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    token = authority.issue(role="officer", ttl=60, now=time.time() - 3600)
    with pytest.raises(Unauthorized):
        authority.verify(token)


def test_token_signed_by_another_deployment_is_refused(tmp_path: Path) -> None:
    ours = TokenAuthority.from_file(tmp_path / "a.pem")
    theirs = TokenAuthority.from_file(tmp_path / "b.pem")
    with pytest.raises(Unauthorized):
        ours.verify(theirs.issue(role="admin"))


def test_tampered_claims_are_refused(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    header, payload, sig = authority.issue(role="officer", area="01").split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(Unauthorized):
        authority.verify(f"{header}.{forged}.{sig}")


def test_unknown_role_and_unit_token_without_unit_are_rejected_at_issue(tmp_path: Path) -> None:
    authority = TokenAuthority.from_file(tmp_path / "k.pem")
    with pytest.raises(ValueError):
        authority.issue(role="superuser")
    with pytest.raises(ValueError):
        authority.issue(role="unit")


def test_signing_key_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    first = load_or_create_key(path)
    second = load_or_create_key(path)
    assert first.thumbprint() == second.thumbprint()
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("scope", "area", "covered"), [
    ("79", "79", True), ("79", "79.26743", True), ("79", "790", False), ("79", "7", False),
    ("79.26743", "79", False), (None, "01", True), ("79", None, False),
])
def test_officer_area_scope_is_hierarchical(scope: str | None, area: str | None, covered: bool) -> None:
    assert Principal(sub="o", role="officer", area=scope).covers_area(area) is covered
