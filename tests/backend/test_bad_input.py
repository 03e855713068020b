"""Bad input is a 4xx, never a 500, on every route of the url_map (issue 12, item 6).

The walk tries each rule with each method, logged in as one person holding every role: every
int converter gets an id beyond the database's integer range, other converters a value no row
has, and the query string (and, for POST, the form) carries out-of-range, malformed and
undecodable dates, months and years. Any 5xx, or an exception, fails the test.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from backend.models.accounts import Role

HUGE_ID = "9" * 20  # beyond INTEGER and BIGINT
DATE_NAMES = ("date_from", "date_until", "month", "year", "period_start", "period_end", "consent_date",
              "available_from", "available_until", "retired_on", "from", "until", "day", "date")
QUERIES = [
    "&".join(f"{name}={value}" for name, value in zip(DATE_NAMES, ["0001-01-01", "9999-12-31", "0001-01", "0"] + [
        "0001-01-01", "9999-12-31"] * 5)),
    "&".join(f"{name}={value}" for name, value in zip(DATE_NAMES, ["9999-12-31", "0001-01-01", "9999-12",
                                                                   HUGE_ID] + ["9999-12-31", "0001-01-01"] * 5)),
    "&".join(f"{name}=2026-02-30" for name in DATE_NAMES) + "&month=2026-13&year=1e9&date_until=-1",
    "&".join(f"{name}=%00%ff" for name in DATE_NAMES),
    "%zz=%ff&&=&month&date_from&year=&vehicle=%00&class=%ff&mode=..&next=%0d%0a",
]
# Form members that carry ids: a POST sends them beyond the integer range too.
ID_NAMES = ("trip", "vehicle", "subject_user_id", "subject_vehicle_id", "driver", "grant_days", "version_id")
# Not walked: logging out would end the walk's session (logout is tested in test_auth).
SKIPPED_ENDPOINTS = {"auth.logout"}


def _path(rule) -> str:
    def value(match: re.Match) -> str:
        converter = rule._converters[match.group(2)]
        if isinstance(converter, IntegerConverter):
            return HUGE_ID
        if isinstance(converter, PathConverter):
            return "..%2f..%2fnothing%00.css"
        return "NO-SUCH-%ff%00" + "x" * 300
    return re.sub(r"<(?:([a-zA-Z_]+)(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>", value, rule.rule)


def test_every_route_answers_bad_input_with_a_4xx_never_a_5xx(app, client, make_user, login):
    make_user("all@example.nl", *[role.value for role in Role], name="Everyone")
    assert login("all@example.nl").status_code == 302
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint not in SKIPPED_ENDPOINTS]
    assert any(isinstance(c, IntegerConverter) for rule in rules for c in rule._converters.values())
    failures: list[str] = []
    tried = 0
    for rule in sorted(rules, key=lambda r: r.rule):
        path = _path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for query in QUERIES:
                form = None
                if method == "POST":
                    form = {name: HUGE_ID for name in ID_NAMES} | dict(parse_qsl(query, keep_blank_values=True))
                tried += 1
                try:
                    response = client.open(f"{path}?{query}", method=method, data=form)
                except Exception as exc:  # noqa: BLE001 - an exception is what a 500 would be
                    failures.append(f"{method} {rule.rule} ?{query[:60]}: {type(exc).__name__}: {exc}"[:300])
                    continue
                if response.status_code >= 500:
                    failures.append(f"{method} {rule.rule} ?{query[:60]}: {response.status_code}")
    assert tried > 100
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", [f"/me/trips/{HUGE_ID}", f"/access/requests/{HUGE_ID}",
                                  f"/agreements/{2**31}", f"/finance/reports/jobs/{2**63}"])
def test_an_id_beyond_the_integer_range_is_a_404(app, client, make_user, login, path):
    make_user("all@example.nl", *[role.value for role in Role], name="Everyone")
    login("all@example.nl")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("query", ["date_from=0001-01-01", "date_until=9999-12-31", "date_from=2026-02-30"])
def test_the_audit_log_answers_a_date_out_of_range_with_a_400_in_dutch(app, client, make_user, login, query):
    make_user("or@example.nl", "or_delegate")
    login("or@example.nl")
    response = client.get(f"/audit/log?{query}")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Geef een datum tussen" in text or "geldige datum" in text.lower(), text[-2000:]


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "10000-01", "2026-13"])
def test_a_month_out_of_range_is_a_400(app, client, make_user, login, month):
    make_user("daan@example.nl", "driver")
    login("daan@example.nl")
    assert client.get(f"/me/trips?month={month}").status_code == 400
