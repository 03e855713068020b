"""E-mail to the employee through a real SMTP server (aiosmtpd on a loopback port): queued with
the notification, sent by the "mail" job, kept and retried while the server is down or refuses."""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select

from backend import audit, jobs, mail
from backend.governance import grants
from backend.config import ConfigError, load_settings
from backend.db import db, utcnow
from backend.models.access import Notification
from backend.models.audit import AuditEvent
from backend.models.mail import OutgoingMail
from tests.backend.access_support import PRIVATE_START, granted, people_under_agreement, user
from tests.backend.smtp_sink import SENDER, Inbox, Server, use_smtp as _use

HOURS = dict(purpose="hours_verification", grounds="hours_declaration_mismatch")  # told at the grant


@pytest.fixture
def people(app, make_user):
    return people_under_agreement(app, make_user)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def test_a_grant_told_at_once_reaches_the_employee_by_mail_in_dutch(app, people, smtp) -> None:
    _use(app, smtp)
    with app.app_context():
        grant = granted(people, **HOURS)
        assert _count(OutgoingMail, OutgoingMail.sent_at.is_(None)) == 1  # queued with the notification
        assert smtp.inbox.messages == []  # nothing is sent inside the approval's request
        assert jobs.send_mail() == 1
        assert jobs.send_mail() == 0  # sent once
        assert audit.verify().ok
        sent = _events(audit.MAIL_SENT)
        assert [(e.subject_user_id, json.loads(e.details)["kind"]) for e in sent] == [(people.driver, "access_notice")]
        holder = user(grant.holder_id).name
    [(sender, recipients, message)] = smtp.inbox.messages
    assert sender == "ritbox@example.nl" and recipients == ["daan@example.nl"]
    assert message["Subject"] == "Ritbox: toegang tot je ritgegevens"
    body = message.get_content()
    assert holder in body and "Controle van urendeclaraties aan de hand van ritten" in body
    assert "https://ritbox.example.nl/me/access-log" in body
    assert "ondernemingsraad" in body
    # No trip, place or time of driving leaves the system by e-mail.
    assert str(PRIVATE_START[0]) not in body and "km" not in body


def test_an_english_speaking_employee_gets_english(app, people, smtp) -> None:
    _use(app, smtp)
    with app.app_context():
        user(people.driver).locale = "en"
        db.session.commit()
        granted(people, **HOURS)
        jobs.send_mail()
    [(_, _, message)] = smtp.inbox.messages
    assert message["Subject"] == "Ritbox: access to your trip data"
    assert "was given access to your trip data" in message.get_content()


def test_a_notice_told_at_close_is_mailed_when_the_grant_ends(app, people, smtp) -> None:
    _use(app, smtp)
    with app.app_context():
        grant = granted(people)  # misuse investigation: told within 14 days of the close
        assert _count(OutgoingMail) == 0
        grants.revoke(grant, user(people.privacy), "Onderzoek afgerond.")
        assert jobs.send_notifications() == 1
        assert jobs.send_mail() == 1
    [(_, recipients, message)] = smtp.inbox.messages
    assert recipients == ["daan@example.nl"]
    assert message["Subject"] == "Ritbox: toegang tot je ritgegevens is beëindigd"


def test_a_server_that_is_down_delays_the_mail_and_loses_nothing(app, people, caplog) -> None:
    server = Server()  # not started: nothing listens on its port
    _use(app, server)
    with app.app_context():
        granted(people, **HOURS)
        now = utcnow()
        assert jobs.send_mail(now) == 0
        waiting = db.session.scalar(select(OutgoingMail))
        assert (waiting.attempts, waiting.sent_at) == (1, None)
        assert waiting.last_error == "ConnectionRefusedError"
        assert waiting.next_attempt_at == now + dt.timedelta(minutes=5)
        assert jobs.send_mail(now + dt.timedelta(minutes=4)) == 0  # not due yet: not even tried
        assert db.session.scalar(select(OutgoingMail.attempts)) == 1
        assert jobs.send_mail(now + dt.timedelta(minutes=5)) == 0
        assert db.session.scalar(select(OutgoingMail.next_attempt_at)) == now + dt.timedelta(minutes=15)
        server.start()
        try:
            assert jobs.send_mail(now + dt.timedelta(minutes=15)) == 1
        finally:
            server.stop()
        assert db.session.scalar(select(OutgoingMail.last_error)) is None
    assert len(server.inbox.messages) == 1
    assert "daan@example.nl" not in caplog.text  # the log names the failure, never the person


def test_pauses_between_attempts_grow_to_six_hours_and_stay_there() -> None:
    assert [mail.retry_pause(n).total_seconds() / 60 for n in (1, 2, 3, 4, 7, 30)] == [5, 10, 20, 40, 320, 360]
    # A recipient refused for weeks (four tries a day): the pause stays 6 h; it used to overflow
    # timedelta from the 39th try on, and with it the mail job.
    assert {mail.retry_pause(n) for n in (39, 40, 200, 10_000)} == {dt.timedelta(hours=6)}


def test_a_refused_recipient_waits_and_the_others_still_go(app, people, smtp) -> None:
    _use(app, smtp)
    smtp.inbox.refuse.add("daan@example.nl")
    with app.app_context():
        granted(people, **HOURS)  # tells the driver
        # A second grant about the other driver, whose mailbox works.
        from backend.governance import approvals, requests
        from tests.backend.access_support import request_input
        second = requests.file_request(user(people.manager), request_input(people.other_driver, **HOURS))
        approvals.decide(second, user(people.or_delegate), "approve", "Concrete aanwijzing, beperkt.")
        approvals.decide(second, user(people.privacy), "approve", "Akkoord binnen de regeling.")
        assert jobs.send_mail() == 1
        refused = db.session.scalar(select(OutgoingMail).where(OutgoingMail.sent_at.is_(None)))
        assert refused.user_id == people.driver and refused.last_error == "SMTPRecipientsRefused 550"
    assert [recipients for _, recipients, _ in smtp.inbox.messages] == [["eva@example.nl"]]


def test_with_mail_off_the_notice_is_in_the_app_only(app, people) -> None:
    with app.app_context():
        assert not mail.enabled()
        granted(people, **HOURS)
        assert _count(Notification, Notification.sent_at.is_not(None)) == 1
        assert _count(OutgoingMail) == 0
        assert jobs.send_mail() == 0


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_at_the_mail_server(app, people) -> None:
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"ritbox", b"s3cret")
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    # Plain text is fine on loopback in a test; a deployment uses STARTTLS (tested below).
    server = Server(authenticator=authenticate, auth_require_tls=False, auth_required=True)
    server.start()
    try:
        _use(app, server, SMTP_USERNAME="ritbox", SMTP_PASSWORD="wrong")
        with app.app_context():
            granted(people, **HOURS)
            assert jobs.send_mail() == 0
            assert db.session.scalar(select(OutgoingMail.last_error)) == "SMTPAuthenticationError 535"
            app.config["SMTP_PASSWORD"] = "s3cret"
            assert jobs.send_mail(utcnow() + dt.timedelta(minutes=5)) == 1
    finally:
        server.stop()
    assert len(server.inbox.messages) == 1


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "mail.crt", folder / "mail.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_starttls_is_verified_against_the_configured_ca(app, people, tmp_path) -> None:
    import ssl
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = Server(tls_context=context, require_starttls=True)
    server.start()
    try:
        _use(app, server, SMTP_SECURITY="starttls")  # the system's CAs do not know this server
        with app.app_context():
            granted(people, **HOURS)
            assert jobs.send_mail() == 0
            assert db.session.scalar(select(OutgoingMail.last_error)) == "SSLCertVerificationError"
            app.config["SMTP_CA_FILE"] = str(cert_file)
            assert jobs.send_mail(utcnow() + dt.timedelta(minutes=5)) == 1
    finally:
        server.stop()
    assert len(server.inbox.messages) == 1


def test_a_mail_host_without_a_sender_is_refused_at_start(tmp_path) -> None:
    with pytest.raises(ConfigError, match="RITBOX_MAIL_FROM is not"):
        load_settings({"RITBOX_SMTP_HOST": "mail.example.nl"}, tmp_path)
    with pytest.raises(ConfigError, match="RITBOX_SMTP_SECURITY: expected one of starttls, ssl, none"):
        load_settings({"RITBOX_SMTP_HOST": "mail.example.nl", "RITBOX_MAIL_FROM": SENDER,
                       "RITBOX_SMTP_SECURITY": "tls"}, tmp_path)


def test_the_cli_shows_the_outbox_and_sends_a_test_message(app, runner, people, smtp) -> None:
    result = runner.invoke(args=["mail", "status"])
    assert "e-mail: off" in result.output
    _use(app, smtp)
    with app.app_context():
        granted(people, **HOURS)
    result = runner.invoke(args=["mail", "status"])
    assert result.exit_code == 0 and "waiting: 1 (of which failed before: 0), sent: 0" in result.output
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0 and "sent: 1" in result.output and "waiting: 0" in result.output
    result = runner.invoke(args=["mail", "test", "beheer@example.nl"])
    assert result.exit_code == 0, result.output
    assert [recipients for _, recipients, _ in smtp.inbox.messages] == [["daan@example.nl"], ["beheer@example.nl"]]
    smtp.stop()
    result = runner.invoke(args=["mail", "test", "beheer@example.nl"])
    assert result.exit_code == 1 and "ConnectionRefusedError" in result.output


def test_an_overdue_calibration_reminds_finance_and_the_driver_by_mail(app, client, make_user, smtp) -> None:
    from tests.backend.odometer_fixtures import T0, car, hourly

    make_user("fatima@example.nl", "finance", name="Fatima")
    make_user("daan@example.nl", "driver", name="Daan")
    golf = car(app, client, driver_email="daan@example.nl")
    golf.drive(*hourly(T0, [10.0]))
    _use(app, smtp)
    with app.app_context():
        assert jobs.odometer_reminders(now=T0 + dt.timedelta(days=1)) == 2  # never calibrated: due
        assert jobs.odometer_reminders(now=T0 + dt.timedelta(days=1, hours=1)) == 0
        assert jobs.send_mail(T0 + dt.timedelta(days=1, hours=1)) == 2
        assert jobs.send_mail(T0 + dt.timedelta(days=1, hours=2)) == 0  # each reminder mailed once
    mails = {recipients[0]: message for _, recipients, message in smtp.inbox.messages}
    assert set(mails) == {"fatima@example.nl", "daan@example.nl"}
    assert mails["daan@example.nl"]["Subject"] == "Ritbox: kilometerteller van GB-XJ-12 kalibreren"
    # The calibration page is finance's: only finance's mail links to it.
    assert "https://ritbox.example.nl/finance/calibrations" in mails["fatima@example.nl"].get_content()
    assert "/finance/calibrations" not in mails["daan@example.nl"].get_content()


@dataclass
class HeldInbox(Inbox):
    """Holds the first message's DATA (the sender waits for the server's answer) until `release`
    is set or a second message arrives: a run stays in the middle of its batch while another runs."""
    first_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        if not self.first_arrived.is_set():
            self.first_arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        else:
            self.release.set()
        return await super().handle_DATA(server, session, envelope)


def test_two_overlapping_runs_send_each_message_once(app, make_user) -> None:
    """The scheduled job and a manual `flask mail send` at the same time: each run reserves the
    messages it picks up, so the second finds nothing to send while the first is still sending."""
    server = Server()
    server.inbox = HeldInbox()
    server.start()
    try:
        _use(app, server)
        with app.app_context():
            for number, address in enumerate(("daan@example.nl", "eva@example.nl"), start=1):
                user_id = make_user(address, "driver")
                mail.queue(user_id, "access_notice", reference=f"notification:{number}", subject="Ritbox", body=".")
            db.session.commit()
        sent: dict[str, int] = {}

        def send(run: str) -> None:
            with app.app_context():
                sent[run] = mail.send_due()

        first = threading.Thread(target=send, args=("first",))
        first.start()
        try:
            assert server.inbox.first_arrived.wait(60)  # the first run is sending its first message
            send("second")
        finally:
            server.inbox.release.set()
            first.join(60)
    finally:
        server.stop()
    assert sorted(recipients for _, recipients, _ in server.inbox.messages) == [["daan@example.nl"],
                                                                               ["eva@example.nl"]]
    assert sum(sent.values()) == 2
    with app.app_context():
        references = sorted(json.loads(event.details)["reference"] for event in _events(audit.MAIL_SENT))
        assert references == ["notification:1", "notification:2"]
        assert _count(OutgoingMail, OutgoingMail.sent_at.is_(None)) == 0
