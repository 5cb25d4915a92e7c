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


HISTORY = ("record,external_key,year,result,decision_no,decision_date,award_type\n"
           "recognition,0301,2024,recognised,12/QĐ-UBND,2024-12-20,\n"
           "award,0301,2024,,7/QĐ-UBND,2025-08-19,giay_khen\n"
           "recognition,0999,2024,recognised,13/QĐ-UBND,,\n")


def test_cli_import_history_uses_the_same_rules_with_a_dry_run_and_is_idempotent(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    units = tmp_path / "units.csv"
    units.write_text(CSV, encoding="utf-8")
    runner = CliRunner()
    runner.invoke(app, ["import", str(units), "--data-dir", data])
    history = tmp_path / "history.csv"
    history.write_text(HISTORY, encoding="utf-8")
    dry = runner.invoke(app, ["import-history", str(history), "--data-dir", data, "--dry-run"])
    assert dry.exit_code == 1, dry.output  # the unknown unit is rejected
    assert "dry run: 3 rows: 2 created" in dry.output and "line 4: rejected — external_key" in dry.output
    first = runner.invoke(app, ["import-history", str(history), "--data-dir", data])
    assert "3 rows: 2 created, 0 unchanged, 1 rejected" in first.output, first.output
    again = runner.invoke(app, ["import-history", str(history), "--data-dir", data, "--json"])
    assert '"unchanged": 2' in again.output and '"created": 0' in again.output
