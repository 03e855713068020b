"""Accounts and roles: the one place the CLI and the admin pages change them.

Four eyes on every role that unlocks personal data (finance, manager, OR delegate, privacy
officer): one person proposes, a current OR delegate or privacy officer confirms, and until then
the role gives nothing (User.roles holds confirmed roles only). The first OR delegate and privacy
officer are installed through the CLI, marked as such. Removing a role and deactivating an account
are single-step and end the user's open sessions. Every change is an audit event.

create_user and set_password are the seeding primitives (tests, demo data): immediate, unaudited,
never reachable from a page.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from backend import audit
from backend.auth.passwords import hash_password
from backend.db import db, utcnow
from backend.errors import N_, UserError
from backend.models import Role, User, UserRole
from backend.models.audit import AuditEvent

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

APPROVER_ROLES = frozenset({Role.OR_DELEGATE, Role.PRIVACY_OFFICER})
# Roles that unlock personal data beyond one's own: proposed by one person, confirmed by another.
FOUR_EYES_ROLES = frozenset({Role.FINANCE, Role.MANAGER}) | APPROVER_ROLES

def users_in_role(role: Role) -> list[User]:
    """The active accounts that hold `role` (confirmed), by id: who finance is, for notices,
    reminders and digests. A query by role: never every user read to test each one."""
    return list(db.session.scalars(select(User).join(UserRole).where(
        UserRole.role == role.value, UserRole.confirmed_at.is_not(None), User.active.is_(True))
        .order_by(User.id)))


# Audit kinds of account and role changes, each with its label.
USER_CREATED = audit.kind("user_created", _l("Account created"))
USER_DEACTIVATED = audit.kind("user_deactivated", _l("Account deactivated"))
USER_RENAMED = audit.kind("user_renamed", _l("Name of an account changed"))
PASSWORD_RESET = audit.kind("password_reset", _l("Password reset by an administrator"))
ROLE_PROPOSED = audit.kind("role_proposed", _l("Role proposed (awaiting confirmation)"))
ROLE_CONFIRMED = audit.kind("role_confirmed", _l("Role confirmed by a second person"))
# a role that needs no second person (driver, administrator)
ROLE_GRANTED = audit.kind("role_granted", _l("Role given"))
# a first approver at installation, through the CLI
ROLE_INSTALLED = audit.kind("role_installed", _l("Role installed at installation (no second person)"))
ROLE_REMOVED = audit.kind("role_removed", _l("Role removed"))
USER_REACTIVATED = audit.kind("user_reactivated", _l("Account reactivated (roles await confirmation again)"))
USER_EMAIL_CHANGED = audit.kind("user_email_changed", _l("E-mail address of an account changed"))
USER_LOCALE_CHANGED = audit.kind("user_locale_changed", _l("Language of an account changed"))
ACCOUNT_EVENTS = (USER_CREATED, USER_DEACTIVATED, USER_RENAMED, PASSWORD_RESET, ROLE_PROPOSED,
                  ROLE_CONFIRMED, ROLE_GRANTED, ROLE_INSTALLED, ROLE_REMOVED, USER_REACTIVATED,
                  USER_EMAIL_CHANGED, USER_LOCALE_CHANGED)




class AccountError(UserError, ValueError):
    """A request about accounts that cannot be carried out; msgid is English with %(name)s
    placeholders (the CLI prints it as is, the pages show it translated)."""



def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(email: str, name: str, roles: Iterable[Role | str], password: str | None) -> User:
    """Seeding primitive (tests, demo): roles in force at once, marked as installation."""
    email = normalise_email(email)
    role_set = {Role(role) for role in roles}
    if not role_set:
        raise AccountError(N_("A user needs at least one role."))
    if find_user(email) is not None:
        raise AccountError(N_("A user with e-mail %(email)s exists already."), email=email)
    user = User(email=email, name=name or email.split("@")[0],
                password_hash=hash_password(password) if password else None)
    now = utcnow()
    user.role_rows = [UserRole(role=role.value, confirmed_at=now, installation=True)
                      for role in sorted(role_set, key=lambda r: r.value)]
    db.session.add(user)
    db.session.commit()
    return user


def set_password(email: str, password: str) -> User:
    """Seeding primitive (demo users): a new password, nothing else changes."""
    user = find_user(email)
    if user is None:
        raise AccountError(N_("No user with e-mail %(email)s."), email=normalise_email(email))
    user.password_hash = hash_password(password)
    db.session.commit()
    return user


# --- the audited paths (pages and CLI) -------------------------------------------------------

def _record(kind: str, actor: User | None, user: User, **details) -> None:
    audit.record(kind, actor=actor, subject_user_id=user.id, details=details, commit=False)


def _row(user: User, role: Role) -> UserRole | None:
    return next((row for row in user.role_rows if row.role == role.value), None)


def _conflict(user: User, role: Role) -> str | None:
    """Why this person may not hold the role next to what they hold or were proposed for."""
    held = user.roles | user.pending_roles
    if role in APPROVER_ROLES and (held & APPROVER_ROLES) - {role}:
        return N_("One person never holds both approver roles (works council delegate and privacy officer).")
    if role in APPROVER_ROLES and Role.ADMIN in held:
        return N_("An administrator cannot also be an approver.")
    if role is Role.ADMIN and held & APPROVER_ROLES:
        return N_("An approver cannot also be an administrator.")
    return None


def _ever_held(role: Role) -> bool:
    """True once anyone held or awaits this role: installation is over for it. The audit log
    remembers holders whose role was removed since (a suspended role stays as a proposal)."""
    if db.session.scalar(select(exists().where(UserRole.role == role.value))):
        return True
    # canonical JSON: sorted keys, no spaces, so the role appears exactly like this.
    return bool(db.session.scalar(select(exists().where(
        AuditEvent.event_type.in_((ROLE_INSTALLED, ROLE_CONFIRMED, ROLE_REMOVED)),
        AuditEvent.details.like(f'%"role":"{role.value}"%')))))


def propose_role(actor: User | None, user: User, role: Role | str, *, via: str = "web",
                 commit: bool = True) -> UserRole:
    """Give a role: at once for driver and administrator; a proposal for the four-eyes roles.
    actor None is the CLI: it installs a first OR delegate or privacy officer (only while nobody
    ever held that role), every other four-eyes role it proposes."""
    role = Role(role)
    if not user.active:
        raise AccountError(N_("The account is deactivated."))
    if _row(user, role) is not None:
        raise AccountError(N_("%(email)s already has or awaits this role."), email=user.email)
    if reason := _conflict(user, role):
        raise AccountError(reason)
    now = utcnow()
    row = UserRole(role=role.value, proposed_by_id=actor.id if actor else None, proposed_at=now)
    if role not in FOUR_EYES_ROLES:
        row.confirmed_at = now
        kind = ROLE_GRANTED
    elif actor is None and role in APPROVER_ROLES and not _ever_held(role):
        row.confirmed_at, row.installation = now, True
        kind = ROLE_INSTALLED
    else:
        kind = ROLE_PROPOSED
    user.role_rows.append(row)
    db.session.flush()
    _record(kind, actor, user, role=role.value, via=via)
    if commit:
        db.session.commit()
    return row


def create_account(actor: User | None, email: str, name: str, roles: Iterable[Role | str],
                   password: str, *, via: str = "web") -> User:
    """A new account: driver and administrator roles at once, the others proposed (see propose_role)."""
    email = normalise_email(email)
    role_set = sorted({Role(role) for role in roles}, key=lambda r: r.value)
    if not role_set:
        raise AccountError(N_("A user needs at least one role."))
    if find_user(email) is not None:
        raise AccountError(N_("A user with e-mail %(email)s exists already."), email=email)
    # Whoever created the account knows its first password: the user chooses their own at the
    # first login, and no role of theirs is confirmed before that.
    user = User(email=email, name=name or email.split("@")[0], password_hash=hash_password(password),
                must_change_password=True)
    db.session.add(user)
    db.session.flush()
    _record(USER_CREATED, actor, user, via=via)
    try:
        for role in role_set:
            propose_role(actor, user, role, via=via, commit=False)
    except AccountError:
        db.session.rollback()
        raise
    db.session.commit()
    return user


def may_confirm(confirmer: User, row: UserRole) -> str | None:
    target_must_change = row.user.must_change_password
    """Why this person may not confirm this pending role (None: they may)."""
    if row.confirmed_at is not None:
        return N_("The role is confirmed already.")
    if not (confirmer.active and confirmer.roles & APPROVER_ROLES):
        return N_("Only a current works council delegate or privacy officer confirms a role.")
    if confirmer.id == row.user_id:
        return N_("Nobody confirms a role for themself.")
    if row.proposed_by_id == confirmer.id:
        return N_("The person who proposed a role cannot also confirm it.")
    if target_must_change:
        return N_("The user must first log in and choose their own password.")
    return None


def confirm_role(confirmer: User, user: User, role: Role | str) -> UserRole:
    """The second person: the role is in force from now on."""
    role = Role(role)
    row = _row(user, role)
    if row is None:
        raise AccountError(N_("%(email)s has no proposal for this role."), email=user.email)
    if reason := may_confirm(confirmer, row):
        raise AccountError(reason)
    if not user.active:
        raise AccountError(N_("The account is deactivated."))
    row.confirmed_by_id, row.confirmed_at = confirmer.id, utcnow()
    _record(ROLE_CONFIRMED, confirmer, user, role=role.value, proposed_by=row.proposed_by_id)
    db.session.commit()
    return row


def pending_roles() -> list[UserRole]:
    """Every role that waits for its second person, oldest first."""
    return list(db.session.scalars(select(UserRole).where(UserRole.confirmed_at.is_(None))
                                   .order_by(UserRole.proposed_at, UserRole.user_id)))


def remove_role(actor: User | None, user: User, role: Role | str, *, via: str = "web") -> None:
    """Take a role away (or withdraw a proposal) at once; the user's open sessions end."""
    role = Role(role)
    row = _row(user, role)
    if row is None:
        raise AccountError(N_("%(email)s does not have this role."), email=user.email)
    was_pending = row.confirmed_at is None
    user.role_rows.remove(row)
    user.end_sessions()
    _record(ROLE_REMOVED, actor, user, role=role.value, pending=was_pending, via=via)
    db.session.commit()


def deactivate(actor: User | None, user: User, *, via: str = "web") -> None:
    """Deactivate an account at once: it cannot log in and its open sessions end."""
    if actor is not None and actor.id == user.id:
        raise AccountError(N_("You cannot deactivate your own account."))
    if not user.active:
        raise AccountError(N_("The account is deactivated already."))
    user.active = False
    user.end_sessions()
    _record(USER_DEACTIVATED, actor, user, via=via)
    db.session.commit()


def _suspend_four_eyes_roles(actor: User | None, user: User) -> list[str]:
    """Put the account's confirmed four-eyes roles back to awaiting an approver's confirmation
    (proposed again by the actor); returns them. The caller records and commits."""
    suspended = []
    now = utcnow()
    for row in user.role_rows:
        if Role(row.role) in FOUR_EYES_ROLES and row.confirmed_at is not None:
            row.confirmed_at = row.confirmed_by_id = None
            row.installation = False
            row.proposed_by_id, row.proposed_at = (actor.id if actor else None), now
            suspended.append(row.role)
    return sorted(suspended)


def reactivate(actor: User | None, user: User, *, via: str = "web") -> list[str]:
    """Let a deactivated account log in again. One person reactivates, so its roles that unlock
    personal data wait for an approver's confirmation again (returned), as a new proposal would:
    reactivation never gives back a four-eyes role on one person's word."""
    if user.active:
        raise AccountError(N_("The account is active already."))
    user.active = True
    user.end_sessions()
    suspended = _suspend_four_eyes_roles(actor, user)
    _record(USER_REACTIVATED, actor, user, via=via, roles_awaiting_confirmation=suspended)
    db.session.commit()
    return suspended


def change_email(actor: User | None, user: User, email: str, *, via: str = "web") -> list[str]:
    """A new e-mail address (the login name, and where notices about access and the signed
    checkpoints go). Redirecting those is as strong as a role change: the account's four-eyes
    roles wait for an approver's confirmation again (returned). The audit event names no address."""
    email = normalise_email(email)
    if not re.match(EMAIL_PATTERN, email) or len(email) > 254:
        raise AccountError(N_("Give a valid e-mail address, e.g. name@example.nl."))
    if email == user.email:
        return []
    other = find_user(email)
    if other is not None and other.id != user.id:
        raise AccountError(N_("A user with e-mail %(email)s exists already."), email=email)
    user.email = email
    suspended = _suspend_four_eyes_roles(actor, user)
    _record(USER_EMAIL_CHANGED, actor, user, via=via, roles_awaiting_confirmation=suspended)
    db.session.commit()
    return suspended


def set_locale(actor: User | None, user: User, locale: str | None, *, via: str = "web") -> None:
    """The language of the user's pages and e-mail (None: the installation's default)."""
    from backend.config import SUPPORTED_LOCALES
    locale = locale or None
    if locale is not None and locale not in SUPPORTED_LOCALES:
        raise AccountError(N_("Unknown language."))
    if locale == user.locale:
        return
    user.locale = locale
    _record(USER_LOCALE_CHANGED, actor, user, via=via, locale=locale)
    db.session.commit()


def rename(actor: User | None, user: User, name: str, *, via: str = "web") -> None:
    name = name.strip()
    if not name or len(name) > 200:
        raise AccountError(N_("A name has 1 to 200 characters."))
    if name == user.name:
        return
    user.name = name
    _record(USER_RENAMED, actor, user, via=via)
    db.session.commit()


def reset_password(actor: User | None, user: User, password: str | None = None, *, via: str = "web") -> str:
    """A new one-time password (returned) that the user must change at the next login.

    Whoever resets knows that password, so the account's roles that read personal data (all but
    administrator) wait for an approver's confirmation again: a reset never lets one person act as
    another account with its roles."""
    password = password or secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.end_sessions()
    suspended = []
    now = utcnow()
    for row in user.role_rows:
        if row.role != Role.ADMIN.value and row.confirmed_at is not None:
            row.confirmed_at = row.confirmed_by_id = None
            row.installation = False
            row.proposed_by_id, row.proposed_at = (actor.id if actor else None), now
            suspended.append(row.role)
    _record(PASSWORD_RESET, actor, user, via=via, roles_awaiting_confirmation=sorted(suspended))
    db.session.commit()
    return password
