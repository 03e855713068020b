"""Failed-login limits per account and per network address, counted in the database so
that every worker process sees the same counts."""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from backend.db import db, utcnow
from backend.models import LoginFailure


def _key(kind: str, value: str) -> str:
    # Keyed hash: the table never holds an address or e-mail in clear.
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(email: str) -> str:
    return _key("account", email.strip().lower())


def address_key(address: str) -> str:
    return _key("address", address)


def is_limited(email: str, address: str) -> bool:
    config = current_app.config
    since = utcnow() - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    per_account = db.session.scalar(
        select(func.count()).select_from(LoginFailure)
        .where(LoginFailure.account_key == account_key(email), LoginFailure.at >= since))
    if per_account >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]:
        return True
    per_address = db.session.scalar(
        select(func.count()).select_from(LoginFailure)
        .where(LoginFailure.address_key == address_key(address), LoginFailure.at >= since))
    return per_address >= config["LOGIN_MAX_FAILURES_PER_ADDRESS"]


def record_failure(email: str, address: str) -> None:
    db.session.add(LoginFailure(account_key=account_key(email), address_key=address_key(address)))
    # Old failures are useless to the limit; dropping them keeps the table small.
    horizon = utcnow() - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"] * 4)
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < horizon))
    db.session.commit()


def clear_account(email: str) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == account_key(email)))
    db.session.commit()
