"""How far each agency's incident reports are trusted, as data (`rules/agencies.yaml`), read once at start-up.

An agency's report waits for an officer's confirmation (`pending`) unless its trust level is
`confirmed_on_arrival`. A file that does not validate stops the service from starting.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.errors import Invalid, reason

from .frameworks import RULES_DIR

TrustLevel = Literal["pending", "confirmed_on_arrival"]
_AGENCY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # one NATS subject token, as agency accounts are named


class AgencyTrust(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: TrustLevel = "pending"
    agencies: dict[str, TrustLevel] = {}

    @field_validator("agencies")
    @classmethod
    def _names(cls, value: dict[str, TrustLevel]) -> dict[str, TrustLevel]:
        bad = [name for name in value if not _AGENCY.match(name)]
        if bad:
            raise ValueError(f"not an agency name (lower-case letters, digits, hyphens): {', '.join(bad)}")
        return value

    def level(self, agency: str) -> TrustLevel:
        return self.agencies.get(agency, self.default)

    def confirmed_on_arrival(self, agency: str) -> bool:
        return self.level(agency) == "confirmed_on_arrival"


def load_agency_trust(path: Path | None = None) -> AgencyTrust:
    """The trust levels of `path`, or of the shipped `rules/agencies.yaml`; Invalid when the file is wrong."""
    return _read(path) if path is not None else _default()


@lru_cache(maxsize=1)
def _default() -> AgencyTrust:
    return _read(RULES_DIR / "agencies.yaml")


def _read(path: Path) -> AgencyTrust:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return AgencyTrust.model_validate(data if data is not None else {})
    except (OSError, yaml.YAMLError) as exc:
        raise Invalid(f"agency trust file {path}: cannot be read ({exc})", code="invalid_agency_trust") from exc
    except ValidationError as exc:
        raise Invalid(f"agency trust file {path}: {reason(exc)}", code="invalid_agency_trust") from exc
