"""Keeps a reporter unknown: receipts (issue, hash, verify), the identity cipher, and the reward reference.

Receipt arithmetic. A receipt is 28 Crockford base32 symbols shown in 7 groups of 4, e.g.
`7K2M-QX9D-4F8T-ZR1C-...`. The first 8 symbols (40 bits) are the *lookup id*: stored in clear, unique, it
finds the one row to check without scanning every hash. The last 20 symbols (100 bits, from `secrets`) are the
*secret*: only a keyed hash of the whole code is stored, HMAC-SHA-256 under a receipt key kept outside the
database (`ReceiptKeys`). Guessing: knowing a valid lookup id (worst case) an attacker still has to hit one of
2**100 secrets; at 10**16 guesses per second (a million GPUs on SHA-256) that is 2**99 / 10**16 s, about 2e6
years on average, and the HTTP rate limit makes online guessing 10**13 times slower still. With the database but
not the key, a stored hash is a MAC under an unknown 256-bit key: no guess can be checked offline at all. With
both, the 100-bit secret alone carries the 2e6 years. A slow hash (argon2id, used before) adds nothing to 100
random bits but a CPU and memory lever for whoever floods intake or follow-up. Without a known lookup id, a random
code hits any of N stored tips with probability N / 2**140.

Receipt keys: base64 strings of 32 bytes, newest first (a setting or a key file, as the identity keys). A stored
hash is `$hmac-sha256$k=<key id>$<base64 mac>`; the newest key hashes, every configured key verifies, and a
successful follow-up re-hashes a row made with an older key, or with argon2id before this scheme (a PHC string
`$argon2id$...`, verified with the parameters it names), under the newest key.
Input is forgiving as Crockford intends: case, spaces and hyphens are ignored, I/L read as 1, O as 0.

Reward reference. `reward_ref = shared.rewards.reward_ref_for_receipt(<the receipt in its grouped form>)`, the one
definition that the awards service also uses. The tips service computes it once at intake (the only time it sees
the receipt in clear), stores it with the tip and publishes it in TipVerified only for a valuable tip (anonymous or
named: the reward of a named reporter goes through the same pseudonymous reference, so the reporter's identity
still never leaves this service). The awards service, given `POST /rewards/claim {receipt}`, computes the same
function and looks the reference up: it learns that the claimant holds the receipt, never who the reporter is, and
tips never learns who claims. The reference is a hash of 140 random bits, so it can be neither reversed nor linked
to an identity; TipVerified does link it to its tip id, by design (docs/security.md, "Rewards"). A fast hash is
enough here because the input has 140 bits of entropy.

Identity cipher (a `shared.keyring.KeyRing`). AES-256-GCM with a random 96-bit nonce; the token is
`v1.<key id>.<base64url(nonce|ct)>`, where the key id (first 8 hex of sha256(key)) picks the key, and the
associated data binds the ciphertext to its row (the tip id), so swapping ciphertexts between rows fails. Keys
come from settings as base64 strings, current key first. Rotation: put a new key first, keep the old ones after
it, run `rotate()` over every row (`needs_rotation()` tells which), then drop the old keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from shared.errors import Invalid
from shared.keyring import KeyRing, SealedTokenError
from shared.rewards import reward_ref_for_receipt

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LOOKUP_SYMBOLS = 8
SECRET_SYMBOLS = 20
GROUP = 4
RECEIPT_SYMBOLS = LOOKUP_SYMBOLS + SECRET_SYMBOLS
SECRET_BITS = SECRET_SYMBOLS * 5
_DECODE = {c: c for c in CROCKFORD} | {"I": "1", "L": "1", "O": "0"}

# The argon2id profile receipts were hashed with before HMAC (OWASP's: 19 MiB, 2 passes, 1 lane). Such rows are
# still verified (the PHC string names its parameters) and re-hashed with HMAC on their next follow-up.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
ARGON2_HASH_LEN = 32
ARGON2_SALT_LEN = 16


@dataclass(frozen=True)
class Argon2Profile:
    time_cost: int
    memory_kib: int
    parallelism: int

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            hash_len=ARGON2_HASH_LEN,
            salt_len=ARGON2_SALT_LEN,
            type=Type.ID,
        )


PRODUCTION = Argon2Profile(ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM)
# For tests only: the minimum argon2 accepts. Verification reads the parameters from the hash itself.
FAST_FOR_TESTS = Argon2Profile(time_cost=1, memory_kib=8, parallelism=1)
_ARGON2_VERIFIER = PasswordHasher()  # verify() reads the parameters from the PHC string


@dataclass(frozen=True)
class Receipt:
    """A parsed receipt. `str()` gives the grouped form to show the reporter once."""

    lookup_id: str
    secret: str

    def normalised(self) -> str:
        return self.lookup_id + self.secret

    def __str__(self) -> str:
        code = self.normalised()
        return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))

    def __repr__(self) -> str:
        # Never print the secret by accident (logs, tracebacks).
        return f"Receipt(lookup_id={self.lookup_id!r}, secret=<hidden>)"


def _random_symbols(n: int) -> str:
    """n symbols, 5 uniformly random bits each, from one call to the system's random source."""
    value = int.from_bytes(secrets.token_bytes((n * 5 + 7) // 8), "big") >> ((8 - n * 5 % 8) % 8)
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in range(n - 1, -1, -1))


def new_receipt() -> Receipt:
    """A fresh receipt with a 40-bit lookup id and a 100-bit secret (the store retries on a lookup id clash)."""
    return Receipt(lookup_id=_random_symbols(LOOKUP_SYMBOLS), secret=_random_symbols(SECRET_SYMBOLS))


def parse_receipt(text: str | Receipt) -> Receipt:
    """The receipt typed by a reporter. Invalid (`bad_receipt`) when it cannot be one, without saying more."""
    if isinstance(text, Receipt):
        return text
    symbols = []
    for char in text.upper():
        if char in " -\t\r\n":
            continue
        decoded = _DECODE.get(char)
        if decoded is None:
            raise Invalid("this is not a receipt", code="bad_receipt")
        symbols.append(decoded)
    if len(symbols) != RECEIPT_SYMBOLS:
        raise Invalid("this is not a receipt", code="bad_receipt")
    code = "".join(symbols)
    return Receipt(lookup_id=code[:LOOKUP_SYMBOLS], secret=code[LOOKUP_SYMBOLS:])


def hash_receipt_argon2(receipt: str | Receipt, *, profile: Argon2Profile = PRODUCTION) -> str:
    """An argon2id PHC string of the receipt, as stored before HMAC (kept to make such rows in tests)."""
    return profile.hasher().hash(parse_receipt(receipt).normalised())


RECEIPT_MAC = "hmac-sha256"
_MAC_PREFIX = f"${RECEIPT_MAC}$k="


class ReceiptKeys:
    """HMAC-SHA-256 keys for receipts, newest first: the newest hashes, every one verifies (see module doc)."""

    PURPOSE = b"antq.tips.receipt_key_id"

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise ValueError("at least one receipt key is required")
        self._keys: dict[str, bytes] = {}
        for encoded in keys:
            raw = KeyRing.decode_key(encoded, "receipt key")
            self._keys.setdefault(self.key_id(raw), raw)
        self.current_key_id = next(iter(self._keys))
        # Compared against when there is nothing to compare with, so that such a check costs a real one.
        self._dummy = self._mac(self.current_key_id, "-" * RECEIPT_SYMBOLS)

    @classmethod
    def key_id(cls, raw: bytes) -> str:
        return hashlib.sha256(cls.PURPOSE + b"\x00" + raw).hexdigest()[:8]

    @staticmethod
    def generate_key() -> str:
        return KeyRing.generate_key()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def _mac(self, key_id: str, code: str) -> bytes:
        return hmac.digest(self._keys[key_id], code.encode("ascii"), "sha256")

    def hash(self, receipt: str | Receipt) -> str:
        """The keyed hash to store, under the newest key. The whole normalised code is hashed."""
        mac = self._mac(self.current_key_id, parse_receipt(receipt).normalised())
        return f"{_MAC_PREFIX}{self.current_key_id}${base64.b64encode(mac).decode('ascii')}"

    @staticmethod
    def stored_key_id(stored_hash: str) -> str | None:
        """The key id of an HMAC row; None for any other (an argon2id row, or something malformed)."""
        if not stored_hash.startswith(_MAC_PREFIX):
            return None
        return stored_hash[len(_MAC_PREFIX):].split("$", 1)[0]

    def verify(self, receipt: str | Receipt, stored_hash: str | None) -> bool:
        """Whether the receipt matches the stored hash, in constant time. With `stored_hash=None` (no row for the
        lookup id) or a key no longer configured, a dummy MAC is compared so that the answer costs the same.
        An argon2id row (from before HMAC) is verified with argon2."""
        try:
            code = parse_receipt(receipt).normalised()
        except Invalid:
            return False
        if stored_hash is not None and stored_hash.startswith("$argon2"):
            try:
                return _ARGON2_VERIFIER.verify(stored_hash, code)
            except (VerificationError, InvalidHashError):
                return False
        key_id = self.stored_key_id(stored_hash) if stored_hash else None
        expected = self._dummy
        if key_id is not None and key_id in self._keys and stored_hash is not None:
            try:
                expected = base64.b64decode(stored_hash.rsplit("$", 1)[1], validate=True)
            except (ValueError, binascii.Error):
                key_id = None
        else:
            key_id = None
        actual = self._mac(key_id or self.current_key_id, code)
        return hmac.compare_digest(actual, expected) and key_id is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether a stored hash is not an HMAC under the newest key (re-hash on the reporter's next follow-up)."""
        return self.stored_key_id(stored_hash) != self.current_key_id


def reward_ref(receipt: str | Receipt) -> str:
    """The reference under which an anonymous reporter can claim an award with the receipt (see module doc).

    Delegates to `shared.rewards.reward_ref_for_receipt`, which the awards service applies to a presented
    receipt, over the grouped form shown to the reporter (`ABCD-EFGH-...`), so however the reporter typed it
    here, the reference is the one that `POST /rewards/claim` computes for the receipt as it was issued.
    """
    return reward_ref_for_receipt(str(parse_receipt(receipt)))


# --- identity cipher -------------------------------------------------------------------------------------------
class IdentityDecryptError(SealedTokenError):
    """A ciphertext could not be opened: unknown key, tampering, or the wrong row."""


class IdentityCipher(KeyRing):
    """Encrypts a reporter's identity with the current key; decrypts with any configured key."""

    error = IdentityDecryptError

    def __init__(self, keys: Sequence[str]):
        # The purpose salts the key ids: it is what the ids of the tokens already stored were made with.
        super().__init__(keys, purpose="antq.tips.identity_key_id", key_name="identity key")

    def encrypt(self, identity: Mapping[str, Any], *, context: str) -> str:
        """A token for `identity` (JSON-serialisable) bound to `context` (the tip id)."""
        plaintext = json.dumps(dict(identity), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return self.seal(plaintext.encode("utf-8"), context=context)

    def decrypt(self, token: str, *, context: str) -> dict[str, Any]:
        """The identity in `token`. IdentityDecryptError for an unknown key, a wrong context or tampering."""
        value = json.loads(self.open(token, context=context).decode("utf-8"))
        if not isinstance(value, dict):
            raise IdentityDecryptError("identity token does not hold an object")
        return value

    def rotate(self, token: str, *, context: str) -> str:
        """The token re-encrypted with the current key (unchanged if it already uses it)."""
        return self.reseal(token, context=context)
