"""E-mail to users through the configured SMTP server.

    from backend import mail
    mail.queue(user_id, "access_notice", reference="notification:12", subject=..., body=...)
    # the caller commits; the "mail" job sends it (mail.send_due), retrying until it is accepted

Messages are queued in the database in the same transaction as what they announce, and sent
by a scheduled job: a mail server that is down or slow never fails a request or an approval,
and a message waits (with growing pauses between attempts) until the server accepts it. With
no RITBOX_SMTP_HOST nothing is queued: notifications then show in the app only.

Each run first reserves the messages it will send (claimed_by, claimed_until: one atomic
UPDATE of unreserved rows, FOR UPDATE SKIP LOCKED on PostgreSQL), and checks its reservation
again right before each message, so runs that overlap (several workers, a manual `flask mail
send`) send every message once. A reservation lapses after LEASE by the database's clock, so a
run that died leaves its messages to the next.

Log lines and stored errors name the failure's kind and the server's reply code, never an
address or a message text (personal data).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, or_, select, update

from backend import audit
from backend.db import database_now, db, utcnow
from backend.jobs import holder_name
from backend.models.accounts import User
from backend.models.mail import OutgoingMail

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=5)
LONGEST_PAUSE = timedelta(hours=6)
BATCH = 200  # messages per job run; the rest wait for the next run
# How long a run's reservation of a message lasts; renewed right before each message is sent,
# so it only has to outlast one SMTP conversation (a few timeouts of smtp_timeout_seconds).
LEASE = timedelta(minutes=10)


class MailError(Exception):
    """Mail cannot be sent as configured; the message says why (no personal data)."""


def enabled() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def queue(user_id: int, kind: str, *, reference: str, subject: str, body: str,
          now: datetime | None = None) -> OutgoingMail | None:
    """Queue one message to a user, once per (kind, reference); None when e-mail is off.
    The caller commits, so the message is queued exactly when what it announces is stored."""
    if not enabled():
        return None
    existing = db.session.scalar(select(OutgoingMail).where(
        OutgoingMail.kind == kind, OutgoingMail.reference == reference))
    if existing is not None:
        return existing
    now = now or utcnow()
    message = OutgoingMail(user_id=user_id, kind=kind, reference=reference, subject=subject[:200],
                           body=body, created_at=now, next_attempt_at=now, attempts=0)
    db.session.add(message)
    return message


def retry_pause(attempts: int) -> timedelta:
    """5 min after the first failure, doubling, at most 6 h: a server that is down for a weekend
    is tried a few times an hour at first and then four times a day, never given up on.
    The doubling stops at 16 (far past the cap): a timedelta overflows near 2 ** 38 times 5 min,
    which a message refused for a week would reach, and the whole mail job would then fail."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), LONGEST_PAUSE)


def describe(error: BaseException) -> str:
    """The failure's kind and reply code; never str(error), which may quote an address."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({reply[0] for reply in error.recipients.values()})
        code = ",".join(map(str, codes))
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def connect() -> smtplib.SMTP:
    """An SMTP session with the configured server: TLS verified against the system's CAs or
    smtp_ca_file, logged in when a username is set."""
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_SECONDS"]
    security = config["SMTP_SECURITY"]
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE"))
    if security == "ssl":
        session: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        session = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if security == "starttls":
            session.starttls(context=context)
        if config.get("SMTP_USERNAME"):
            session.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        session.close()
        raise
    return session


def _message(recipient: str, subject: str, body: str) -> EmailMessage:
    sender = current_app.config["MAIL_FROM"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    message.set_content(body)
    return message


def _failed(mail: OutgoingMail, error: BaseException, now: datetime) -> None:
    mail.attempts += 1
    mail.last_error = describe(error)[:200]
    mail.next_attempt_at = now + retry_pause(mail.attempts)
    mail.claimed_by = mail.claimed_until = None


def _unclaimed(clock: datetime):
    return or_(OutgoingMail.claimed_until.is_(None), OutgoingMail.claimed_until <= clock)


def _claim(now: datetime, owner: str) -> list[OutgoingMail]:
    """Reserve up to BATCH due messages for this run and return them. One UPDATE whose WHERE
    repeats the unreserved condition: SQLite runs it under its one write lock; PostgreSQL skips
    rows another run is reserving (SKIP LOCKED) and re-checks the condition on a row it waited for."""
    clock = database_now()
    due = (select(OutgoingMail.id)
           .where(OutgoingMail.sent_at.is_(None), OutgoingMail.next_attempt_at <= now, _unclaimed(clock))
           .order_by(OutgoingMail.id).limit(BATCH).with_for_update(skip_locked=True))
    db.session.execute(
        update(OutgoingMail).where(OutgoingMail.id.in_(due), OutgoingMail.sent_at.is_(None), _unclaimed(clock))
        .values(claimed_by=owner, claimed_until=clock + LEASE).execution_options(synchronize_session=False))
    db.session.commit()
    return list(db.session.scalars(select(OutgoingMail).where(
        OutgoingMail.claimed_by == owner, OutgoingMail.sent_at.is_(None)).order_by(OutgoingMail.id)))


def _still_ours(mail: OutgoingMail, owner: str) -> bool:
    """Renew this run's reservation of one message right before it is sent; False when it
    lapsed and another run took (and perhaps sent) it."""
    renewed = db.session.execute(
        update(OutgoingMail).where(OutgoingMail.id == mail.id, OutgoingMail.claimed_by == owner,
                                   OutgoingMail.sent_at.is_(None))
        .values(claimed_until=database_now() + LEASE).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(renewed)


def send_due(now: datetime | None = None) -> int:
    """Job: send the queued messages that are due; returns how many the server accepted.

    Each accepted message is committed at once (with its audit event), so a crash mid-run sends
    no message twice except, at worst, the one in flight. A message the server refuses for its
    recipient waits like any other failure: the address may be corrected in the meantime.
    """
    if not enabled():
        return 0
    now = now or utcnow()
    owner = holder_name()
    due = _claim(now, owner)
    if not due:
        return 0
    try:
        session = connect()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as error:
        for mail in due:
            _failed(mail, error, now)
        db.session.commit()
        log.warning("mail: the server did not take a session (%s); %d message(s) wait", describe(error), len(due))
        return 0
    sent = failed = 0
    with session:
        for index, mail in enumerate(due):
            if not _still_ours(mail, owner):
                continue
            recipient = db.session.scalar(select(User.email).where(User.id == mail.user_id))
            try:
                session.send_message(_message(recipient, mail.subject, mail.body))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                _failed(mail, error, now)  # this message only; the session is still good
                db.session.commit()
                failed += 1
                continue
            except (OSError, smtplib.SMTPException) as error:  # the session broke: all the rest wait
                for waiting in due[index:]:
                    _failed(waiting, error, now)
                db.session.commit()
                failed += len(due) - index
                break
            mail.sent_at = now
            mail.attempts += 1
            mail.last_error = None
            mail.claimed_by = mail.claimed_until = None
            audit.record(audit.MAIL_SENT, subject_user_id=mail.user_id,
                         details={"kind": mail.kind, "reference": mail.reference}, commit=False)
            db.session.commit()
            sent += 1
    if failed:
        log.warning("mail: %d sent, %d wait for a later attempt", sent, failed)
    return sent


def outbox_counts() -> dict[str, int]:
    waiting = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(OutgoingMail.sent_at.is_(None)))
    failing = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(
        OutgoingMail.sent_at.is_(None), OutgoingMail.attempts > 0))
    sent = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(OutgoingMail.sent_at.is_not(None)))
    return {"waiting": waiting or 0, "failing": failing or 0, "sent": sent or 0}


mail_cli = AppGroup("mail", help="E-mail to users (the outbox and the SMTP server).")


@mail_cli.command("status")
def status_command() -> None:
    """How many messages wait, how many of those failed before, and how many were sent."""
    counts = outbox_counts()
    state = "on" if enabled() else "off (RITBOX_SMTP_HOST is not set; notifications show in the app only)"
    click.echo(f"e-mail: {state}")
    click.echo(f"waiting: {counts['waiting']} (of which failed before: {counts['failing']}), sent: {counts['sent']}")
    last = db.session.scalar(select(OutgoingMail.last_error).where(
        OutgoingMail.sent_at.is_(None), OutgoingMail.last_error.is_not(None)).order_by(OutgoingMail.id.desc()).limit(1))
    if last:
        click.echo(f"last failure: {last}")


@mail_cli.command("send")
def send_command() -> None:
    """Send what is due now, instead of waiting for the scheduled job."""
    if not enabled():
        raise click.ClickException("e-mail is off: set RITBOX_SMTP_HOST and RITBOX_MAIL_FROM")
    click.echo(f"sent: {send_due()}")
    counts = outbox_counts()
    click.echo(f"waiting: {counts['waiting']}")


@mail_cli.command("test")
@click.argument("address")
def test_command(address: str) -> None:
    """Send one test message to ADDRESS straight away, to check the SMTP settings."""
    if not enabled():
        raise click.ClickException("e-mail is off: set RITBOX_SMTP_HOST and RITBOX_MAIL_FROM")
    try:
        with connect() as session:
            session.send_message(_message(address, "Ritbox: test", "Dit is een testbericht van Ritbox.\n\n"
                                                                    "This is a test message from Ritbox.\n"))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as error:
        raise click.ClickException(f"the mail server refused or failed: {describe(error)}") from None
    click.echo("sent")


def init_app(app: Flask) -> None:
    app.cli.add_command(mail_cli)
