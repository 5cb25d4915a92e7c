"""`antq units import FILE`: imports into the units database, reports rejected rows, is idempotent."""

from pathlib import Path

from typer.testing import CliRunner

from services.units.cli import app

CSV = "name,kind,area_code,tax_code\nCông ty A,enterprise,79.26743,0301\nSai,farm,79,0302\n"


def test_cli_import_reports_rows_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    file = tmp_path / "units.csv"
    file.write_text(CSV, encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(app, ["import", str(file), "--data-dir", str(tmp_path / "data")])
    assert first.exit_code == 1, first.output  # a rejected row makes the exit code 1
    assert "1 created" in first.output and "line 3: rejected — kind" in first.output
    second = runner.invoke(app, ["import", str(file), "--data-dir", str(tmp_path / "data"), "--json"])
    assert '"unchanged": 1' in second.output and '"created": 0' in second.output
    jsonl = tmp_path / "units.jsonl"
    jsonl.write_text('{"name": "B", "kind": "agency", "area_code": "79", "external_key": "AG-1"}\n')
    third = runner.invoke(app, ["import", str(jsonl), "--data-dir", str(tmp_path / "data")])
    assert third.exit_code == 0 and "1 created" in third.output
