"""Documents generated from the agreement and the installation (issue 18): the regeling the works
council consents to (its hash kept with the consent, a settings change that alters it flagged),
the privacy notice every driver acknowledges before first use, the DPIA draft and the register."""
from __future__ import annotations

import io
import re

import pytest
from docx import Document as read_docx
from pypdf import PdfReader
from sqlalchemy import select

from backend import agreement_documents, audit
from backend.governance import agreements
from backend.db import db
from backend.models.access import AgreementVersion
from backend.models.agreement_documents import ConsentedText, NoticeAcknowledgement
from backend.models.audit import AuditEvent
from tests.backend.access_support import (consent_day, example_text, make_people, shown, user)

PDOK = "https://api.pdok.nl/bzk/locatieserver/search/v3_1/reverse"


@pytest.fixture
def uploaded(app, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "keys" / "sealing_keys.pem")
    people = make_people(make_user)
    with app.app_context():
        version_id = agreements.upload(example_text(), user(people.privacy)).id
    return people, version_id


def _sha_on_page(html: str) -> str:
    return re.search(r'data-testid="regeling-sha256">([0-9a-f]{64})<', html).group(1)


def test_the_delegate_consents_to_the_text_shown_and_a_setting_change_flags_it(app, client, login, uploaded):
    people, version_id = uploaded
    login("olga@example.nl")
    page = client.get(f"/agreements/{version_id}").get_data(as_text=True)
    seen = _sha_on_page(page)
    assert "geen positie verlaat de server" in page  # PDOK off: the text says so
    # A stale hash (the text changed between reading and consenting) is refused.
    response = client.post(f"/agreements/{version_id}/consent", data={
        "consent_date": consent_day().isoformat(), "reference": "OR-2026-003", "regeling_sha256": "0" * 64})
    assert response.status_code == 303
    with app.app_context():
        assert agreements.in_force() is None
    response = client.post(f"/agreements/{version_id}/consent", data={
        "consent_date": consent_day().isoformat(), "reference": "OR-2026-003", "regeling_sha256": seen})
    assert response.status_code == 303
    with app.app_context():
        kept = db.session.scalar(select(ConsentedText))
        assert kept.agreement_version_id == version_id and kept.sha256 == seen
        assert "geen positie verlaat de server" in kept.text
        consented = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == audit.AGREEMENT_CONSENTED)).one()
        assert seen in consented.details
    page = client.get(f"/agreements/{version_id}").get_data(as_text=True)
    assert 'data-testid="consent-match"' in page and 'data-testid="consent-mismatch"' not in page

    # PDOK switched on: business positions now leave the server; the consent no longer matches.
    app.config["PDOK_URL"] = PDOK
    with app.app_context():
        check = agreement_documents.consent_check(db.session.get(AgreementVersion, version_id))
        assert not check.matches and check.consented_sha256 == seen
        assert "api.pdok.nl" in agreement_documents.consent_text(check.version).text()
    for email in ("olga@example.nl", "pieter@example.nl"):  # the OR and the privacy officer see it
        client.post("/logout")
        login(email)
        assert 'data-testid="consent-mismatch"' in client.get("/").get_data(as_text=True)
        assert 'data-testid="consent-mismatch"' in client.get("/agreements/").get_data(as_text=True)
    page = client.get(f"/agreements/{version_id}").get_data(as_text=True)
    assert "Komt niet meer overeen met de instemming" in page and seen in page
    client.post("/logout")
    login("mark@example.nl")  # a manager is not told
    assert 'data-testid="consent-mismatch"' not in client.get("/agreements/").get_data(as_text=True)

    app.config.pop("PDOK_URL")  # back as consented: matches again
    with app.app_context():
        assert agreement_documents.mismatched_consents() == []


def test_the_regeling_says_what_the_settings_do(app, uploaded, tmp_path):
    people, version_id = uploaded
    with app.app_context():
        version = db.session.get(AgreementVersion, version_id)
        plain = agreement_documents.render("regeling", version, "nl")
        assert "geen e-mail" in plain.text() and "buiten de database in het bestand" in plain.text()
        app.config.update(SMTP_HOST="mail.example.nl", MAIL_FROM="ritbox@example.nl")
        app.config["SEALING_KEY_PATH"] = str(tmp_path / "instance" / "sealing_keys.pem")
        changed = agreement_documents.render("regeling", version, "nl")
        assert "mailserver mail.example.nl" in changed.text()
        assert changed.sha256() != plain.sha256()
        english = agreement_documents.render("regeling", version, "en")
        assert "Trip registry regulation" in english.text() and "mail server mail.example.nl" in english.text()


def test_documents_download_as_pdf_and_the_dpia_as_editable_docx(app, client, login, uploaded, artifacts_dir):
    people, version_id = uploaded
    login("pieter@example.nl")
    for kind in agreement_documents.KINDS:
        for language in ("nl", "en"):
            response = client.get(f"/agreements/{version_id}/documents/{kind}.pdf?lang={language}")
            assert response.status_code == 200 and response.content_type == "application/pdf"
            (artifacts_dir / f"agreement-{kind}-{language}.pdf").write_bytes(response.data)
            text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
            with app.app_context():
                document = agreement_documents.render(kind, db.session.get(AgreementVersion, version_id), language)
            assert document.sections[0].heading in text
            assert client.get(f"/agreements/{version_id}/documents/{kind}?lang={language}").status_code == 200
    response = client.get(f"/agreements/{version_id}/documents/dpia.docx")
    assert response.status_code == 200
    (artifacts_dir / "agreement-dpia-nl.docx").write_bytes(response.data)
    docx = read_docx(io.BytesIO(response.data))
    paragraphs = [p.text for p in docx.paragraphs]
    assert any(p.startswith("B.13 ") or "B.13 Noodzaak" in p for p in paragraphs)
    open_points = [p for p in paragraphs if p.startswith("[OPEN PUNT: ")]
    assert len(open_points) >= 5  # what only the privacy officer can fill in is marked as such
    assert all(run.font.highlight_color is not None for p in docx.paragraphs
               if p.text.startswith("[OPEN PUNT") for run in p.runs)
    register = client.get(f"/agreements/{version_id}/documents/register").get_data(as_text=True)
    assert "Verwerkingsverantwoordelijke" in register and "Voorbeeld Installatietechniek" in register

    client.post("/logout")
    login("daan@example.nl")  # a driver reads the regeling and the notice, not the DPIA draft
    assert client.get(f"/agreements/{version_id}/documents/regeling").status_code == 200
    assert client.get(f"/agreements/{version_id}/documents/dpia").status_code == 403
    assert client.get(f"/agreements/{version_id}/documents/dpia.docx").status_code == 403
    assert client.get(f"/agreements/{version_id}/documents/nonsense").status_code == 404
    assert client.get(f"/agreements/{version_id}/documents/regeling?lang=fr").status_code == 400


def test_a_driver_acknowledges_the_notice_before_first_use_and_again_for_a_new_version(app, client, login, uploaded):
    people, version_id = uploaded
    with app.app_context():
        version = db.session.get(AgreementVersion, version_id)
        agreements.record_consent(version, user(people.or_delegate), consent_day(), "OR-2026-003",
                                  text_sha256=shown(version))
    login("daan@example.nl")
    response = client.get("/me/trips")
    assert response.status_code == 303 and "/privacy-notice" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="notice-due"' in page and "Voorbeeld Installatietechniek" in page
    assert "OR-2026-003" in page  # the works council's consent reference
    key = re.search(r'name="notice_sha256" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    response = client.post("/privacy-notice?next=/me/trips", data={"notice_sha256": key})
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/trips")
    assert client.get("/me/trips").status_code == 200
    page = client.get("/privacy-notice").get_data(as_text=True)
    assert 'data-testid="notice-acknowledged"' in page and "versie 2026-1" in page

    # A new version asks again; the earlier acknowledgement stays on the driver's list.
    with app.app_context():
        second = agreements.upload(example_text().replace('version: "2026-1"', 'version: "2026-2"'),
                                   user(people.privacy))
        agreements.record_consent(second, user(people.or_delegate), consent_day(), "OR-2026-004",
                                  text_sha256=shown(second))
        second_id = second.id
    assert client.get("/me/trips").status_code == 303
    page = client.get("/privacy-notice").get_data(as_text=True)
    key = re.search(r'name="notice_sha256" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    assert client.post("/privacy-notice", data={"notice_sha256": key}).status_code == 303
    assert client.get("/me/trips").status_code == 200
    history = client.get("/privacy-notice").get_data(as_text=True)
    assert history.count("<td>2026-") == 2
    with app.app_context():
        rows = db.session.scalars(select(NoticeAcknowledgement).order_by(NoticeAcknowledgement.id)).all()
        assert [(r.user_id, r.agreement_version_id) for r in rows] == [(people.driver, version_id),
                                                                        (people.driver, second_id)]
        assert len(db.session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == audit.NOTICE_ACKNOWLEDGED)).all()) == 2

    client.post("/logout")
    login("fatima@example.nl")  # not a driver: not gated
    assert client.get("/").status_code == 200


def test_a_map_tile_server_is_named_in_the_regeling_and_the_notice(app, uploaded):
    """Switching map tiles on sends the viewed area and the viewer's IP to a tile server
    (docs/maps.md): the regeling says so (the consent no longer matches) and the notice names it."""
    people, version_id = uploaded
    with app.app_context():
        version = db.session.get(AgreementVersion, version_id)
        before = agreement_documents.consent_text(version).sha256()
        assert "kaarttegels" not in agreement_documents.render("regeling", version, "nl").text()
        app.config["MAP_TILES"] = "pdok"
        regeling = agreement_documents.render("regeling", version, "nl").text()
        notice = agreement_documents.render("notice", version, "nl").text()
        assert "kaarttegels) bij service.pdok.nl" in regeling and "IP-adres van de kijker" in regeling
        assert "de kaartserver service.pdok.nl" in notice
        assert agreement_documents.consent_text(version).sha256() != before
        app.config["MAP_TILES"] = "off"
        assert agreement_documents.consent_text(version).sha256() == before
