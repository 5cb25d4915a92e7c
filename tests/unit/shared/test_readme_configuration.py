"""The README's configuration table names every setting, so operators can find each one."""

from __future__ import annotations

from pathlib import Path

from shared.settings import CONSOLE_APIS, PROCESSES, Settings

README = Path(__file__).resolve().parents[3] / "README.md"


# The settings declared per service of shared/service_registry.py: one row names them all by their pattern.
PER_SERVICE = {f"{s}_database_url": "ANTQ_<SERVICE>_DATABASE_URL" for s in PROCESSES} | {
    f"console_{s}_url": "ANTQ_CONSOLE_<SERVICE>_URL" for s in CONSOLE_APIS}


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text()
    missing = [f"ANTQ_{name.upper()}" for name in Settings.model_fields
               if PER_SERVICE.get(name, f"ANTQ_{name.upper()}") not in text]
    assert missing == [], f"add these to the README's configuration table: {missing}"
