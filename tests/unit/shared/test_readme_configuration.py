"""The README's configuration table names every setting, so operators can find each one."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text()
    missing = [f"ANTQ_{name.upper()}" for name in Settings.model_fields if f"ANTQ_{name.upper()}" not in text]
    assert missing == [], f"add these to the README's configuration table: {missing}"
