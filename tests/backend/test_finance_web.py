"""Finance's report pages over the test client (both databases): downloads, bad input, 403 for
other roles, the fleet export job and its status, and the driver's own export."""
from __future__ import annotations

import io
import time
import zipfile

import pytest

from tests.backend import report_fixtures as rf


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return rf.fleet(app, client, make_user, tmp_path)


def _vehicle_id(app) -> int:
    from backend.fleet import service
    with app.app_context():
        return service.find_vehicle(rf.KENTEKEN).id


@pytest.mark.parametrize("fmt, mimetype", [("csv", "text/csv"), ("pdf", "application/pdf"),
                                           ("xml", "application/xml"), ("xlsx", "application/vnd.openxml")])
def test_finance_downloads_a_car_report(app, client, login, fleet, fmt, mimetype):
    login(rf.FINANCE_EMAIL)
    page = client.get("/finance/reports")
    assert page.status_code == 200 and rf.KENTEKEN.encode() in page.data and rf.DRIVER_NAME.encode() in page.data
    response = client.post("/finance/reports", data={"subject": f"vehicle:{_vehicle_id(app)}", "year": fleet.year,
                                                     "format": fmt})
    assert response.status_code == 200
    assert response.mimetype.startswith(mimetype)
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=rittenregistratie-{fleet.year}-auto-GB-XJ-12.{fmt}")
    assert len(response.data) > 500
    rf_markers = [m.encode() for m in rf.PRIVATE_MARKERS]
    assert not any(marker in response.data for marker in rf_markers)


def test_a_year_without_trips_is_a_message_not_an_empty_file(client, login, fleet):
    login(rf.FINANCE_EMAIL)
    response = client.post("/finance/reports", data={"subject": f"driver:{fleet.driver}", "year": 2019,
                                                     "format": "pdf"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert b'data-testid="report-error"' in response.data


def test_an_unknown_subject_is_refused_by_the_form(client, login, fleet):
    login(rf.FINANCE_EMAIL)
    response = client.post("/finance/reports", data={"subject": "vehicle:999999", "year": fleet.year,
                                                     "format": "csv"})
    assert response.status_code == 400 and response.mimetype == "text/html"


@pytest.mark.parametrize("email", [rf.DRIVER_EMAIL, "eva@example.nl"])
def test_other_roles_get_403(client, login, fleet, email):
    login(email)
    assert client.get("/finance/reports").status_code == 403
    assert client.post("/finance/reports", data={"subject": f"driver:{fleet.driver}", "year": fleet.year,
                                                 "format": "csv"}).status_code == 403
    assert client.post("/finance/reports/fleet", data={"fleet-year": fleet.year,
                                                       "fleet-format": "csv"}).status_code == 403


def test_fleet_export_runs_as_a_job_with_a_status_and_a_zip(app, client, login, fleet):
    login(rf.FINANCE_EMAIL)
    response = client.post("/finance/reports/fleet", data={"fleet-year": fleet.year, "fleet-format": "csv"},
                           follow_redirects=True)
    assert [r.status_code for r in response.history] == [303] and b"finance-export.js" in response.data
    status = None
    for _ in range(200):
        status = client.get("/finance/reports/jobs/1").get_json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "done", status
    assert (status["done"], status["total"], status["reports"]) == (1, 1, 1)
    download = client.get(status["download"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert f"rittenregistratie-{fleet.year}-auto-GB-XJ-12.csv" in archive.namelist()
    # Another finance user cannot see or fetch someone else's job.
    client.post("/logout")
    from backend.accounts import create_user
    from tests.conftest import TEST_PASSWORD
    with app.app_context():
        create_user("frank@example.nl", "Frank", ["finance"], TEST_PASSWORD)
    login("frank@example.nl")
    assert client.get("/finance/reports/jobs/1").status_code == 404
    assert client.get(status["download"]).status_code == 404


def test_fleet_export_of_an_empty_year_fails_with_its_reason(client, login, fleet):
    login(rf.FINANCE_EMAIL)
    client.post("/finance/reports/fleet", data={"fleet-year": 2019, "fleet-format": "pdf"})
    for _ in range(100):
        status = client.get("/finance/reports/jobs/1").get_json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "failed" and "no trips in 2019" in status["message"]
    assert status["download"] is None
    assert client.get("/finance/reports/jobs/1/download").status_code == 404


def test_the_driver_downloads_their_own_report_with_private_addresses(client, login, fleet):
    login(rf.DRIVER_EMAIL)
    response = client.post("/my/report", data={"year": fleet.year, "format": "csv"})
    assert response.status_code == 200
    assert b"52.24681, 4.93116" in response.data
    login_finance = client.post("/logout")
    assert login_finance.status_code in (302, 303)
    login(rf.FINANCE_EMAIL)
    assert client.post("/my/report", data={"year": fleet.year, "format": "csv"}).status_code == 403


def test_a_large_fleet_is_searched_not_listed_and_any_found_subject_downloads(app, client, login, fleet):
    """At 3,004 cars and drivers the report page took 828 ms to list them all in one drop-down
    (issue 20): past a page's worth it offers a search, lists what matches, and the form takes
    any driver or car that exists, whichever the page listed."""
    from backend.fleet import service
    with app.app_context():
        for n in range(60):
            service.create_vehicle(f"GB-{n // 10}{n % 10}-XX".replace("GB-", "ZZ-"), "Volkswagen", "Polo")
    login(rf.FINANCE_EMAIL)
    page = client.get("/finance/reports").get_data(as_text=True)
    assert page.count('value="vehicle:') == 0 and 'name="q"' in page
    found = client.get("/finance/reports", query_string={"q": rf.KENTEKEN[:4]}).get_data(as_text=True)
    assert f'value="vehicle:{_vehicle_id(app)}"' in found and found.count('value="vehicle:') <= 20
    by_driver = client.get("/finance/reports", query_string={"q": rf.DRIVER_NAME.split()[0].lower()})
    assert f'value="driver:{fleet.driver}"' in by_driver.get_data(as_text=True)
    nothing = client.get("/finance/reports", query_string={"q": "QQ-99"}).get_data(as_text=True)
    assert nothing.count('value="vehicle:') == 0 and nothing.count('value="driver:') == 0
    response = client.post("/finance/reports", data={"subject": f"vehicle:{_vehicle_id(app)}", "year": fleet.year,
                                                     "format": "csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    unknown = client.post("/finance/reports", data={"subject": "vehicle:999999", "year": fleet.year, "format": "csv"})
    assert unknown.status_code == 400
