"""The pure parts of the console's OIDC sign-in: the PKCE challenge, the flow cookie, the account key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.console.clients import Flow, code_challenge
from services.console.domain.accounts import Account, AccountError, is_oidc_account, oidc_username, validate_account


def test_the_pkce_challenge_is_rfc_7636s_s256_of_the_verifier() -> None:
    verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert code_challenge(verifier) == challenge  # RFC 7636, appendix B


def test_a_flow_survives_its_cookie_and_a_tampered_cookie_is_no_flow() -> None:
    flow = Flow.new(datetime(2026, 12, 3, 2, 0, tzinfo=UTC), "en")
    assert Flow.parse(flow.cookie()) == flow
    assert len(flow.verifier) >= 43 and flow.state != flow.nonce  # RFC 7636: 43 to 128 characters
    for bad in (None, "", "a.b.c", "a.b.c.notanumber.vi", "a..c.1.vi", "x" * 500 + ".b.c.1.vi"):
        assert Flow.parse(bad) is None


def test_a_provider_account_is_keyed_by_its_subject_and_never_collides_with_a_local_username() -> None:
    assert oidc_username("5f0c2f7e-0000-4000-8000-000000000079") == "oidc:5f0c2f7e-0000-4000-8000-000000000079"
    long = oidc_username("x" * 200)
    assert len(long) <= 64 and long.startswith("oidc:sha256:") and long != oidc_username("x" * 201)
    assert oidc_username("a\nb").startswith("oidc:sha256:")
    assert is_oidc_account(long) and not is_oidc_account("nguyen.van.a")
    with pytest.raises(AccountError):
        validate_account(Account("oidc:someone", "officer", area="79"))  # `antq users add` cannot take the key

