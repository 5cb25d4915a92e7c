"""The award types of the national award catalogue (the awards service's `rules/national/*.yaml`), as data.

Read, never imported: the units service's history import names award types already held and checks them
against this list; the awards service validates the same files in full (`services.awards.domain.rules`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

NATIONAL_DIR = Path(__file__).resolve().parent.parent / "services" / "awards" / "rules" / "national"


@lru_cache(maxsize=1)
def award_types() -> dict[str, dict[str, Any]]:
    """code → {"vi", "en", "recipient_kinds"} over every national catalogue version (a type never disappears
    from history once it has been awarded)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(NATIONAL_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for code, spec in (data.get("award_types") or {}).items():
            name = spec.get("name") or {}
            out[str(code)] = {"vi": name.get("vi", code), "en": name.get("en", code),
                              "recipient_kinds": list(spec.get("recipient_kinds") or [])}
    return out
