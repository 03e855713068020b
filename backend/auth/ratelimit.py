"""Failed-login limits per account and per network address, counted in the database so that
every worker process sees the same counts.

An account's attempt is counted *before* its password is checked, by one conditional UPDATE
(`attempts < limit`): parallel guesses beyond the limit never reach the check, on SQLite (one
writer at a time) and on PostgreSQL (the row lock makes the second UPDATE re-read the row).

An address is slowed down, not locked out: past its threshold every further attempt from it
waits a delay that doubles with each failure (up to a ceiling), so an office behind one proxy
keeps working while one of its accounts is being guessed."""
from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.db import db, utcnow
from backend.models import LoginCounter

MAX_ADDRESS_DELAY_SECONDS = 60


def _key(kind: str, value: str) -> str:
    # Keyed hash: the table never holds an address or e-mail in clear.
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(email: str) -> str:
    return _key("account", email.strip().lower())


def address_key(address: str) -> str:
    return _key("address", address)


def _window_since(now: datetime) -> datetime:
    return now - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])


def _ensure_row(key: str, now: datetime) -> None:
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(LoginCounter).values(key=key, window_start=now, attempts=0)
                       .on_conflict_do_nothing(index_elements=["key"]))


def _count_one(key: str, now: datetime, below: int | None = None) -> bool:
    """Add one attempt to key's window (a stale window starts again at 1). With `below`, only
    while the window holds fewer attempts than that; True when the attempt was counted."""
    stale = LoginCounter.window_start < _window_since(now)
    statement = (update(LoginCounter).where(LoginCounter.key == key)
                 .values(attempts=case((stale, 1), else_=LoginCounter.attempts + 1),
                         window_start=case((stale, now), else_=LoginCounter.window_start))
                 .execution_options(synchronize_session=False))
    if below is not None:
        statement = statement.where(or_(stale, LoginCounter.attempts < below))
    return db.session.execute(statement).rowcount == 1


def reserve_account_attempt(email: str) -> bool:
    """Count one password check for this account; False when the account is at its limit."""
    db.session.commit()  # start a fresh transaction: its first statement is the write below
    now = utcnow()
    key = account_key(email)
    _ensure_row(key, now)
    counted = _count_one(key, now, below=current_app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"])
    db.session.commit()
    return counted


def address_wait_seconds(address: str) -> int:
    """0 when an attempt from this address may go ahead now (and, past the threshold, claim the
    next slot); else how many seconds it must wait."""
    now = utcnow()
    key = address_key(address)
    row = db.session.execute(select(LoginCounter.attempts, LoginCounter.window_start)
                             .where(LoginCounter.key == key)).one_or_none()
    threshold = current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    if row is None or row.window_start < _window_since(now) or row.attempts < threshold:
        return 0
    delay = timedelta(seconds=min(2 ** (row.attempts - threshold), MAX_ADDRESS_DELAY_SECONDS))
    # Claim the slot atomically: of parallel attempts, one goes ahead and the others wait.
    claimed = db.session.execute(
        update(LoginCounter)
        .where(LoginCounter.key == key,
               or_(LoginCounter.not_before.is_(None), LoginCounter.not_before <= now))
        .values(not_before=now + delay).execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    if claimed:
        return 0
    not_before = db.session.scalar(select(LoginCounter.not_before).where(LoginCounter.key == key))
    return max(1, math.ceil((not_before - now).total_seconds())) if not_before else 1


def record_failure(address: str) -> None:
    """A failed password check from this address (the account's attempt is counted already)."""
    now = utcnow()
    key = address_key(address)
    _ensure_row(key, now)
    _count_one(key, now)
    # Old counters are useless to the limits; dropping them keeps the table small.
    horizon = now - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"] * 4)
    db.session.execute(delete(LoginCounter).where(
        LoginCounter.window_start < horizon,
        or_(LoginCounter.not_before.is_(None), LoginCounter.not_before < now))
        .execution_options(synchronize_session=False))
    db.session.commit()


def clear_account(email: str) -> None:
    db.session.execute(delete(LoginCounter).where(LoginCounter.key == account_key(email))
                       .execution_options(synchronize_session=False))
    db.session.commit()
