"""An agency's registered key set takes public EC P-256 encryption keys only, and a receipt sealed to it opens
with the agency's private key alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from services.tips.cli import app as tips_cli
from services.tips.domain import InvalidAgencyKey, agency_jwks, seal_receipt


def public(key: ECKey, **extra: str) -> dict[str, str]:
    return dict(key.as_dict(private=False)) | extra


def test_a_private_key_another_curve_or_no_encryption_key_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    with pytest.raises(InvalidAgencyKey, match="private key"):
        agency_jwks({"keys": [dict(key.as_dict(private=True))]})
    with pytest.raises(InvalidAgencyKey, match="P-256"):
        agency_jwks({"keys": [public(ECKey.generate_key("P-384"))]})
    with pytest.raises(InvalidAgencyKey, match="no key for encryption"):
        agency_jwks({"keys": [public(key, use="sig")]})
    for broken in ({}, {"keys": []}, {"keys": ["x"]}, {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}):
        with pytest.raises(InvalidAgencyKey):
            agency_jwks(broken)


def test_the_first_encryption_key_is_used_and_a_missing_kid_is_its_thumbprint() -> None:
    signing, first, second = (ECKey.generate_key("P-256") for _ in range(3))
    jwks = agency_jwks({"keys": [public(signing, use="sig"), public(first), public(second, kid="k2")]})
    assert [k["kid"] for k in jwks["keys"]] == [first.thumbprint(), "k2"]
    token = seal_receipt("7K2M-QX9D", tip_id="t-1", reference="R-1", jwks=jwks)
    opened = jwe.decrypt_compact(token, first, algorithms=["ECDH-ES", "A256GCM"]).plaintext or b""
    assert json.loads(opened) == {"receipt": "7K2M-QX9D", "tip_id": "t-1", "reference": "R-1"}
    with pytest.raises((JoseError, ValueError)):
        jwe.decrypt_compact(token, second, algorithms=["ECDH-ES", "A256GCM"])


def test_the_operator_command_refuses_a_private_key_and_keeps_nothing(tmp_path: Path) -> None:
    key_file = tmp_path / "agency.json"
    key_file.write_text(json.dumps({"keys": [dict(ECKey.generate_key("P-256").as_dict(private=True))]}))
    result = CliRunner().invoke(tips_cli, ["agency-key", "--agency", "mia-app", "--jwks", str(key_file),
                                           "--key-dir", str(tmp_path / "keys")])
    assert result.exit_code == 1 and "public key only" in result.output
    assert not (tmp_path / "keys" / "mia-app.jwks.json").exists()
    key_file.write_text(json.dumps({"keys": [public(ECKey.generate_key("P-256"))]}))
    result = CliRunner().invoke(tips_cli, ["agency-key", "--agency", "Bad.Name", "--jwks", str(key_file),
                                           "--key-dir", str(tmp_path / "keys")])
    assert result.exit_code == 1 and "invalid agency name" in result.output
    assert not list((tmp_path / "keys").glob("*")) if (tmp_path / "keys").exists() else True
