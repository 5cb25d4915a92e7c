"""Receipts (entropy, hashing, forgiving input), the identity cipher with key rotation, and the reward reference."""

from __future__ import annotations

import base64

import pytest
from argon2 import PasswordHasher

from services.tips.domain import (
    FAST_FOR_TESTS,
    IdentityCipher,
    IdentityDecryptError,
    ReceiptKeys,
    hash_receipt_argon2,
    new_receipt,
    parse_receipt,
    reward_ref,
)
from services.tips.domain.secrecy import CROCKFORD, PRODUCTION, SECRET_BITS
from shared.errors import Invalid
from shared.rewards import reward_ref_for_receipt

IDENTITY = {"name": "Nguyễn Văn An", "phone": "0912345678", "email": "an@example.vn", "id_number": "001099012345"}


def test_receipt_secret_has_at_least_100_bits_and_uses_crockford_symbols() -> None:
    receipt = new_receipt()
    assert SECRET_BITS >= 100
    assert len(receipt.secret) * 5 >= 100
    assert set(receipt.normalised()) <= set(CROCKFORD)
    text = str(receipt)
    assert [len(group) for group in text.split("-")] == [4] * 7


def test_receipts_do_not_repeat() -> None:
    assert len({new_receipt().normalised() for _ in range(2000)}) == 2000


def test_receipt_repr_hides_the_secret() -> None:
    receipt = new_receipt()
    assert receipt.secret not in repr(receipt)


def test_typed_receipt_is_forgiving_about_case_spaces_and_look_alike_letters() -> None:
    receipt = new_receipt()
    typed = str(receipt).lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert parse_receipt(typed) == receipt


@pytest.mark.parametrize("text", ["", "ABCD", "U" * 28, "7K2M-QX9D-4F8T-ZR1C-7K2M-QX9D-4F8T-Z"])
def test_malformed_receipts_are_invalid(text: str) -> None:
    with pytest.raises(Invalid) as err:
        parse_receipt(text)
    assert err.value.code == "bad_receipt"


def test_hash_verifies_the_right_receipt_and_rejects_a_wrong_one() -> None:
    keys = ReceiptKeys([ReceiptKeys.generate_key()])
    receipt = new_receipt()
    stored = keys.hash(receipt)
    assert stored.startswith(f"$hmac-sha256$k={keys.current_key_id}$")
    assert receipt.secret not in stored and receipt.lookup_id not in stored
    assert keys.verify(str(receipt).lower(), stored)
    wrong = parse_receipt(receipt.lookup_id + new_receipt().secret)
    assert not keys.verify(wrong, stored)
    assert not keys.verify("not a receipt", stored)
    assert not keys.needs_rehash(stored)


def test_the_hash_is_keyed_a_database_without_the_key_checks_no_guess() -> None:
    receipt = new_receipt()
    stored = ReceiptKeys([ReceiptKeys.generate_key()]).hash(receipt)
    other = ReceiptKeys([ReceiptKeys.generate_key()])
    # The same receipt under another key: another hash, and the other key cannot verify the first.
    assert other.hash(receipt) != stored
    assert not other.verify(receipt, stored)


@pytest.mark.parametrize("stored", [None, "", "$hmac-sha256$k=zzzzzzzz$AAAA", "$hmac-sha256$k=", "garbage"])
def test_unknown_lookup_ids_and_malformed_hashes_are_checked_against_a_dummy_and_fail(stored: str | None) -> None:
    keys = ReceiptKeys([ReceiptKeys.generate_key()])
    assert not keys.verify(new_receipt(), stored)


def test_a_tampered_mac_fails() -> None:
    keys = ReceiptKeys([ReceiptKeys.generate_key()])
    receipt = new_receipt()
    head, mac = keys.hash(receipt).rsplit("$", 1)
    raw = bytearray(base64.b64decode(mac))
    raw[0] ^= 1
    assert not keys.verify(receipt, f"{head}${base64.b64encode(bytes(raw)).decode()}")


def test_rotation_an_old_key_still_verifies_new_hashes_use_the_new_key() -> None:
    old_key, new_key = ReceiptKeys.generate_key(), ReceiptKeys.generate_key()
    old = ReceiptKeys([old_key])
    receipt = new_receipt()
    stored = old.hash(receipt)
    rotated = ReceiptKeys([new_key, old_key])
    assert rotated.current_key_id != old.current_key_id
    assert rotated.verify(receipt, stored)
    assert rotated.needs_rehash(stored)
    fresh = rotated.hash(receipt)
    assert ReceiptKeys.stored_key_id(fresh) == rotated.current_key_id and not rotated.needs_rehash(fresh)
    # Once the old key is dropped, its rows no longer verify.
    assert not ReceiptKeys([new_key]).verify(receipt, stored)


def test_argon2_rows_from_before_hmac_still_verify_and_need_a_rehash() -> None:
    keys = ReceiptKeys([ReceiptKeys.generate_key()])
    receipt = new_receipt()
    legacy = hash_receipt_argon2(receipt, profile=FAST_FOR_TESTS)
    assert legacy.startswith("$argon2id$")
    assert keys.verify(receipt, legacy)
    assert not keys.verify(parse_receipt(receipt.lookup_id + new_receipt().secret), legacy)
    assert keys.needs_rehash(legacy)


def test_keys_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(ValueError):
        ReceiptKeys([])
    with pytest.raises(ValueError):
        ReceiptKeys([base64.b64encode(b"short").decode()])


def test_legacy_argon2_profile_is_argon2id_with_the_module_constants() -> None:
    hasher: PasswordHasher = PRODUCTION.hasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (2, 19 * 1024, 1)


def test_reward_ref_is_stable_for_the_receipt_however_it_is_typed_and_differs_between_receipts() -> None:
    receipt = new_receipt()
    ref = reward_ref(receipt)
    # One definition: what the awards service computes for the receipt as it was shown to the reporter.
    assert ref == reward_ref_for_receipt(str(receipt))
    assert len(ref) == 64
    assert reward_ref(str(receipt).lower()) == ref
    assert reward_ref(new_receipt()) != ref
    assert receipt.secret not in ref
    assert receipt.lookup_id not in ref


def test_identity_round_trips_and_the_token_does_not_show_it() -> None:
    cipher = IdentityCipher([IdentityCipher.generate_key()])
    token = cipher.encrypt(IDENTITY, context="t1")
    assert "An" not in token.split(".", 2)[2] or "Nguy" not in token
    assert cipher.decrypt(token, context="t1") == IDENTITY
    assert cipher.encrypt(IDENTITY, context="t1") != token  # fresh nonce every time


def test_identity_token_is_bound_to_its_tip() -> None:
    cipher = IdentityCipher([IdentityCipher.generate_key()])
    token = cipher.encrypt(IDENTITY, context="t1")
    with pytest.raises(IdentityDecryptError):
        cipher.decrypt(token, context="t2")


def test_tampered_or_malformed_tokens_are_refused() -> None:
    cipher = IdentityCipher([IdentityCipher.generate_key()])
    version, key_id, body = cipher.encrypt(IDENTITY, context="t1").split(".")
    blob = bytearray(base64.urlsafe_b64decode(body))
    blob[-1] ^= 1
    with pytest.raises(IdentityDecryptError):
        cipher.decrypt(f"{version}.{key_id}.{base64.urlsafe_b64encode(bytes(blob)).decode()}", context="t1")
    for bad in ("", "v1.x", "v2.abc.def", "v1.abcd.!!!"):
        with pytest.raises(IdentityDecryptError):
            cipher.decrypt(bad, context="t1")


def test_rotation_re_encrypts_with_the_new_key_and_old_key_can_then_be_dropped() -> None:
    old_key, new_key = IdentityCipher.generate_key(), IdentityCipher.generate_key()
    token = IdentityCipher([old_key]).encrypt(IDENTITY, context="t1")
    both = IdentityCipher([new_key, old_key])
    assert both.decrypt(token, context="t1") == IDENTITY
    assert both.needs_rotation(token)
    rotated = both.rotate(token, context="t1")
    assert not both.needs_rotation(rotated)
    assert both.rotate(rotated, context="t1") == rotated
    only_new = IdentityCipher([new_key])
    assert only_new.decrypt(rotated, context="t1") == IDENTITY
    with pytest.raises(IdentityDecryptError):
        only_new.decrypt(token, context="t1")


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_keys_are_refused_at_construction(key: str) -> None:
    with pytest.raises(ValueError, match="identity key"):
        IdentityCipher([key])
    with pytest.raises(ValueError, match="at least one"):
        IdentityCipher([])
