"""Notify's copy of the catalogue labels (tip and incident categories, award titles and levels) matches the
catalogues of the tips, units and awards services, so a notice names a category or an award as they do.

After changing a catalogue, rewrite notify's copy with
`ANTQ_WRITE_NOTIFY_CATALOGUES=1 .venv/bin/python -m pytest tests/unit/notify/test_notify_catalogues.py`.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from services.awards.domain.rules import RuleLibrary
from services.notify.domain.templates import CATALOGUES_FILE
from services.tips.domain.rules import available_versions, load_categories
from services.units.domain.frameworks import load_frameworks

HEADER = ("# Generated from the catalogues of the tips, units and awards services by\n"
          "# tests/unit/notify/test_notify_catalogues.py, which fails when this copy and theirs differ.\n"
          "# Do not edit by hand: change the service's catalogue, then regenerate (see that test).\n")


def services_catalogues() -> dict[str, dict[str, dict[str, str]]]:
    """Per language: the labels of every code the services' catalogues have ever had (newest wins)."""
    out: dict[str, dict[str, dict[str, str]]] = {"vi": {}, "en": {}}

    def put(group: str, code: str, vi: str, en: str) -> None:
        out["vi"].setdefault(group, {})[code] = vi
        out["en"].setdefault(group, {})[code] = en

    for version in available_versions("categories"):  # oldest first: old tips keep their labels
        for category in load_categories(version).categories:
            put("tip_category", category.code, category.label_vi, category.label_en)
    frameworks = load_frameworks()
    for incidents in sorted(frameworks.incident_lists.values(), key=lambda x: x.valid_from):
        for incident in incidents.categories:
            put("incident_category", incident.code, incident.vi, incident.en)
    for national in RuleLibrary().national:  # by effective date
        body: dict[str, Any] = national.body
        for code, award_type in body["award_types"].items():
            put("award_type", code, award_type["name"]["vi"], award_type["name"]["en"])
        for code, level in body["levels"].items():
            put("award_level", code, level["vi"], level["en"])
    return out


def test_notifys_catalogue_labels_are_the_services_catalogues() -> None:
    expected = services_catalogues()
    if os.environ.get("ANTQ_WRITE_NOTIFY_CATALOGUES"):
        CATALOGUES_FILE.write_text(HEADER + yaml.safe_dump(expected, allow_unicode=True, sort_keys=True,
                                                           width=200), encoding="utf-8")
    stored = yaml.safe_load(CATALOGUES_FILE.read_text(encoding="utf-8"))
    assert stored == expected, (f"{CATALOGUES_FILE} differs from the services' catalogues; regenerate it "
                                "(see this test's docstring)")
