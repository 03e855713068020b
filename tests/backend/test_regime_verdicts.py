"""The 500 km verdict judged by the verklaringen and the vans' regimes, over a mixed fleet
(issue #19). Every expected figure is computed here by hand from the plan in regime_fleet."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from backend.db import db
from backend.models.accounts import User
from tests.backend import regime_fleet
from tests.backend.regime_fleet import FINANCE, YEAR

XSD = Path(__file__).resolve().parents[2] / "backend" / "reports" / "ritbox-report.xsd"
NS = {"r": "urn:ritbox:report:1"}


def _limit(days: int) -> Decimal:
    return (Decimal(500) * days / 365).quantize(Decimal("0.1"))


# driver -> (private km, available days, verklaring kinds, km above limit, km on a business-only van)
EXPECTED = {
    "anna@example.nl": (Decimal("550.0"), 365, ["no_private_use_car"], Decimal("50.0"), Decimal(0)),
    # 1 Oct - 31 Dec = 31 + 30 + 31 days; 500 * 92 / 365 = 126.03
    "otto@example.nl": (Decimal("150.0"), 92, ["no_private_use_car"], Decimal("150.0") - _limit(92), Decimal(0)),
    "carla@example.nl": (Decimal("250.0"), 365, [], Decimal(0), Decimal(0)),
    "piet@example.nl": (Decimal("80.0"), 365, [], Decimal(0), Decimal(0)),
    "sanne@example.nl": (Decimal("30.0"), 365, [], Decimal(0), Decimal(0)),
    # the private trip and the km driven without the device, both on the business-only van
    "bram@example.nl": (Decimal("12.5"), 365, ["business_only_van"], Decimal(0), Decimal("15.7")),
}


@pytest.fixture
def fleet(app, client, make_user, tmp_path):
    return regime_fleet.build(app, client, make_user, tmp_path)


def test_every_drivers_verdict_follows_their_verklaringen_and_their_vans_regime(app, fleet):
    from backend.reports.build import build_report

    assert _limit(92) == Decimal("126.0")
    with app.app_context():
        finance = db.session.get(User, fleet[FINANCE])
        for email, (private, days, kinds, above, business_only) in EXPECTED.items():
            (verdict,) = build_report(finance, year=YEAR, driver_id=fleet[email]).verdicts
            assert verdict.private_km == private, email
            assert verdict.available_days == days, email
            assert verdict.pro_rated_limit_km == _limit(days), email
            assert verdict.within_limit == (private <= _limit(days)), email
            assert [v.kind for v in verdict.verklaringen] == kinds, email
            assert verdict.burden_of_proof == ("no_private_use_car" in kinds), email
            assert verdict.km_above_limit == above, email
            assert verdict.business_only_km == business_only, email
            assert verdict.business_only_at_risk == (business_only > 0), email


def test_the_report_says_where_the_burden_of_proof_lies_and_which_verklaring_is_at_risk(app, fleet):
    from backend.reports import csv as csv_render
    from backend.reports import xml as xml_render
    from backend.reports.build import build_report

    with app.app_context():
        finance = db.session.get(User, fleet[FINANCE])
        anna = build_report(finance, year=YEAR, driver_id=fleet["anna@example.nl"])
        bram = build_report(finance, year=YEAR, driver_id=fleet["bram@example.nl"])
        carla = build_report(finance, year=YEAR, driver_id=fleet["carla@example.nl"])
    texts = {}
    for name, report in (("anna", anna), ("bram", bram), ("carla", carla)):
        out = io.BytesIO()
        csv_render.render(report, out)
        texts[name] = out.getvalue().decode("utf-8-sig")
    assert "verklaring geen privégebruik auto nr. VGP-ANNA" in texts["anna"]
    assert "bewijslast bij de werknemer" in texts["anna"]
    assert "50,0 km privé boven het naar tijd herrekende maximum van 500,0 km" in texts["anna"]
    assert "15,7 km privé of onverklaard op een bestelauto" in texts["bram"]
    assert "de verklaring is in gevaar" in texts["bram"]
    assert "verklaring" not in texts["carla"].lower()

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    for report, at_risk, burden in ((anna, "false", "true"), (bram, "true", "false")):
        out = io.BytesIO()
        xml_render.render(report, out)
        document = etree.fromstring(out.getvalue())
        schema.assertValid(document)
        (verdict,) = document.findall(".//r:verdict", NS)
        assert verdict.findtext("r:businessOnlyVerklaringAtRisk", namespaces=NS) == at_risk
        assert verdict.findtext("r:burdenOfProofOnEmployee", namespaces=NS) == burden
    assert "VGP-ANNA" in etree.tostring(etree.fromstring(_xml(anna))).decode()
    # each car says its regime: Bram's van under uitsluitend zakelijk, Anna's car none (a car)
    assert "regime: bestelauto, uitsluitend zakelijk gebruik (verklaring) vanaf 01-01-2024" in texts["bram"]
    assert "regime:" not in texts["anna"]
    regime = etree.fromstring(_xml(bram)).find(".//r:vehicle/r:regime", NS)
    assert (regime.text, regime.get("kind"), regime.get("since")) == ("van_business_only", "van", "2024-01-01")


def _xml(report) -> bytes:
    from backend.reports import xml as xml_render
    out = io.BytesIO()
    xml_render.render(report, out)
    return out.getvalue()


def test_the_verdicts_page_names_each_drivers_verklaring(app, client, login, fleet):
    """Finance judges a verdict by the verklaring behind it: the page names it (kind, number,
    issued), in Dutch, for exactly the drivers that have one standing in the year."""
    from lxml import html

    login(FINANCE)
    page = html.fromstring(client.get(f"/finance/verdicts?year={YEAR}").get_data(as_text=True))
    named = {row.get("data-driver"): " ".join(row.xpath("string(.//td[@data-testid='verklaring'])").split())
             for row in page.xpath("//table[@data-testid='verdicts']/tbody/tr")}
    assert named["anna@example.nl"] == "Verklaring geen privégebruik auto nr. VGP-ANNA (afgegeven 01-11-2024)"
    assert named["otto@example.nl"] == "Verklaring geen privégebruik auto nr. VGP-OTTO (afgegeven 01-10-2025)"
    assert named["bram@example.nl"] == ("Verklaring uitsluitend zakelijk gebruik bestelauto nr. UZB-BRAM "
                                        "(afgegeven 01-12-2024)")
    assert {email for email, text in named.items() if text} == {"anna@example.nl", "otto@example.nl",
                                                                 "bram@example.nl"}
