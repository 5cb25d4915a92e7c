"""Signed bearer tokens (Ed25519 JWTs) carrying role, area and unit claims, and their verification."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from shared import places
from shared.areas import AREA_CODE_EXAMPLE, covers, is_area_code
from shared.errors import Unauthorized
from shared.files import write_private

Role = Literal["admin", "officer", "leader", "unit", "agency"]
ROLES: tuple[str, ...] = get_args(Role)
# A leader decides at one level of the commendation hierarchy; below the ministry the level has an area: a commune
# leader a commune ("79.26743"), a provincial one (the province's People's Committee or its police) a province.
LEADER_LEVELS: tuple[str, ...] = ("commune", "police_unit", "province", "ministry")
ALG = "Ed25519"  # RFC 9864's fully-specified name for EdDSA over Ed25519


@dataclass(frozen=True)
class Principal:
    """Who is calling: role, and the area/unit the token is scoped to (None means not scoped)."""

    sub: str
    role: str
    area: str | None = None
    unit: str | None = None
    token_id: str | None = None
    level: str | None = None  # a leader's level (LEADER_LEVELS); None for every other role

    def covers_area(self, area_code: str | None) -> bool:
        """Hierarchical match: an officer of "79" covers "79" and "79.26743"; unscoped covers everything."""
        if self.role == "admin" or self.area is None:
            return True
        if area_code is None:
            return False
        return covers(self.area, area_code)


def scope_problem(role: str, *, area: str | None, unit: str | None, level: str | None) -> str | None:
    """Why a role's scope claims do not fit together (None when they do): one rule for local and OIDC tokens."""
    if area is not None and not is_area_code(area):
        return f"area must be an area code such as {AREA_CODE_EXAMPLE}, not {area!r}"
    if area is not None and not places.is_known_area(area):
        return places.unknown_area_message(area)
    if role == "unit" and not unit:
        return "a unit token must name its unit (--unit)"
    if role != "leader":
        return "only a leader token has a level" if level is not None else None
    if level not in LEADER_LEVELS:
        return f"a leader token must name its level (--level {' | '.join(LEADER_LEVELS)})"
    if level == "ministry":
        return None if area is None else "a ministry leader is nationwide: no area"
    if area is None:
        return f"a {level} leader must name the area it leads (--area)"
    if (level == "commune") != ("." in area):
        return f"a {level} leader's area must be a {'commune (79.26743)' if level == 'commune' else 'province (79)'}"
    return None


def load_or_create_key(path: Path) -> OKPKey:
    """The deployment's token signing key; created on first use (embedded mode) with owner-only permissions."""
    if path.exists():
        return OKPKey.import_key(path.read_bytes())
    # Exclusive create: concurrent starters agree on one key.
    write_private(path, OKPKey.generate_key("Ed25519").as_pem(private=True), exclusive=True)
    return OKPKey.import_key(path.read_bytes())


REVOCATION_FILE = "revoked_tokens.txt"


class RevocationList:
    """Revoked local-token ids (`jti`), one per line in a file under the data dir; re-read when it changes.

    Every service process of a deployment reads the same file, so `antq token revoke JTI` takes effect on the
    next request everywhere. Lines may carry a comment after `#`. Entries may be pruned once older than the
    longest token lifetime (an expired token is refused anyway).
    """

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._ids: frozenset[str] = frozenset()

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._ids = None, frozenset()
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        ids = set()
        for line in self.path.read_text(encoding="utf-8").splitlines():
            jti = line.split("#", 1)[0].strip()
            if jti:
                ids.add(jti)
        self._stamp, self._ids = stamp, frozenset(ids)

    def is_revoked(self, jti: str | None) -> bool:
        if jti is None:
            return False
        self._reload()
        return jti in self._ids

    def revoke(self, jti: str, *, note: str = "") -> bool:
        """Append `jti` (atomic append); False when it was already revoked."""
        if not jti or any(ch.isspace() or ch == "#" for ch in jti):
            raise ValueError("a token id (jti) is one word without spaces or '#'")
        if self.is_revoked(jti):
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{jti}  # revoked {stamp}{' ' + note if note else ''}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return True


def revocation_path(settings: Any) -> Path:
    return Path(settings.data_dir) / REVOCATION_FILE


def revoke_token(settings: Any, jti: str, *, note: str = "") -> bool:
    """Revoke a local token by its id (`jti`): for `antq token revoke JTI`. False when already revoked."""
    return RevocationList(revocation_path(settings)).revoke(jti, note=note)


def token_id(token: str) -> str | None:
    """The `jti` of a token, read without verification (to show an operator what to revoke)."""
    import base64
    import json

    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return str(jti) if jti is not None else None


class TokenAuthority:
    """Issues and verifies the local tokens of `antq token`."""

    def __init__(self, key: OKPKey, *, issuer: str = "antq", default_ttl: int = 12 * 3600,
                 revocations: RevocationList | None = None):
        self.key = key
        self.kid = key.thumbprint()
        self.issuer = issuer
        self.default_ttl = default_ttl
        self.revocations = revocations

    @classmethod
    def from_file(cls, path: Path, **kw: Any) -> TokenAuthority:
        return cls(load_or_create_key(path), **kw)

    def issue(self, *, role: str, sub: str | None = None, area: str | None = None, unit: str | None = None,
              level: str | None = None, ttl: int | None = None, now: float | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        problem = scope_problem(role, area=area or None, unit=unit, level=level)
        if problem:
            raise ValueError(problem)
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}", "role": role,
            "iat": issued, "exp": issued + (ttl or self.default_ttl), "jti": uuid.uuid4().hex,
        }
        if area:
            claims["area"] = area
        if unit:
            claims["unit"] = unit
        if level:
            claims["level"] = level
        return jwt.encode({"alg": ALG, "kid": self.kid}, claims, self.key, algorithms=[ALG])

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        try:
            decoded = jwt.decode(token, self.key, algorithms=[ALG])
        except (JoseError, ValueError) as exc:
            raise Unauthorized("invalid bearer token") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}, exp={"essential": True},
                                         now=int(now) if now is not None else None)
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise Unauthorized(f"token rejected: {exc.error}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized("token has no valid role")
        if self.revocations is not None and self.revocations.is_revoked(claims.get("jti")):
            raise Unauthorized("token has been revoked")
        area, unit, level = claims.get("area"), claims.get("unit"), claims.get("level")
        if scope_problem(str(role), area=area, unit=unit, level=level):
            raise Unauthorized("token's scope claims do not fit its role")
        return Principal(sub=str(claims.get("sub", "")), role=str(role), area=area, unit=unit,
                         token_id=claims.get("jti"), level=level)
