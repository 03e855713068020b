"""`flask report` over trips ingested for real (both databases): every format per car and per
driver, the fleet zip with its progress bar, and bad input that writes no file."""
from __future__ import annotations

import io
import zipfile

import pytest

from tests.backend import report_fixtures as rf


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return rf.fleet(app, client, make_user, tmp_path)


@pytest.mark.parametrize("fmt, magic", [("csv", b"\xef\xbb\xbfSoort;"), ("xlsx", b"PK"), ("pdf", b"%PDF"),
                                        ("xml", b"<?xml")])
def test_a_car_report_in_each_format(runner, fleet, tmp_path, fmt, magic):
    out = tmp_path / f"car.{fmt}"
    result = runner.invoke(args=["report", "--vehicle", rf.KENTEKEN, "--year", str(fleet.year), "--format", fmt,
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    assert f"wrote {out}: {len(rf.standard_plan(fleet.year))} trip(s)" in result.output


def test_a_driver_report_names_the_finance_user_when_there_are_several(runner, make_user, fleet, tmp_path):
    make_user("frank@example.nl", "finance", name="Frank")
    out = tmp_path / "daan.csv"
    args = ["report", "--driver", rf.DRIVER_EMAIL, "--year", str(fleet.year), "--format", "csv", "--out", str(out)]
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and "--as EMAIL" in result.output and not out.exists()
    result = runner.invoke(args=args + ["--as", rf.FINANCE_EMAIL])
    assert result.exit_code == 0, result.output
    assert rf.DRIVER_NAME in out.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("args, message", [
    (["--vehicle", "ZZ-99-ZZ"], "no car with kenteken ZZ-99-ZZ"),
    (["--driver", "nobody@example.nl"], "no driver with e-mail nobody@example.nl"),
    (["--vehicle", rf.KENTEKEN, "--year", "2019"], "no trips in 2019 for GB-XJ-12"),
    (["--vehicle", rf.KENTEKEN, "--as", rf.DRIVER_EMAIL], "the tax purpose lets a driver read only their own"),
])
def test_bad_input_is_a_clear_message_and_no_file(runner, fleet, tmp_path, args, message):
    out = tmp_path / "nothing.pdf"
    if "--year" not in args:
        args = args + ["--year", str(fleet.year)]
    result = runner.invoke(args=["report", *args, "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not out.exists() and list(tmp_path.glob(".report-*")) == []


def test_exactly_one_subject(runner, fleet, tmp_path):
    result = runner.invoke(args=["report", "--vehicle", rf.KENTEKEN, "--driver", rf.DRIVER_EMAIL, "--year", "2025",
                                 "--format", "csv", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_fleet_export_is_a_zip_of_per_car_reports_with_a_progress_bar(app, client, runner, fleet, tmp_path):
    from backend.fleet import service
    with app.app_context():
        service.create_vehicle("12-ABC-3", "Toyota", "Corolla")  # no trips: listed, not reported
    out = tmp_path / "fleet.zip"
    result = runner.invoke(args=["report", "--fleet", "--year", str(fleet.year), "--format", "xml",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "rapporten 2025" in result.output  # the bar (a terminal sees it move; a pipe gets its label)
    assert "1 report(s) for 2 car(s), 1 without trips" in result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        names = archive.namelist()
        assert names == [f"rittenregistratie-{fleet.year}-auto-GB-XJ-12.xml", "LEESMIJ.txt", "checkpoint.json"]
        assert "12-ABC-3" in archive.read("LEESMIJ.txt").decode()
        assert archive.read(names[0]).startswith(b"<?xml")


def test_fleet_export_of_a_year_without_trips_writes_nothing(runner, fleet, tmp_path):
    out = tmp_path / "fleet.zip"
    result = runner.invoke(args=["report", "--fleet", "--year", "2019", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 1 and "no trips in 2019 for any car" in result.output
    assert not out.exists()
