"""People who log in, their roles, and the failed logins that rate-limit them."""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import UTCDateTime, db, utcnow


class Role(str, Enum):
    DRIVER = "driver"
    FINANCE = "finance"
    MANAGER = "manager"
    OR_DELEGATE = "or_delegate"
    PRIVACY_OFFICER = "privacy_officer"
    ADMIN = "admin"


ROLE_VALUES = tuple(role.value for role in Role)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Part of every session's id: raising it ends all open sessions of this user at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by a password reset: every page leads to the password change until it is done.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> frozenset[Role]:
        """The roles in force: a proposed role gives nothing until a second person confirms it."""
        return frozenset(Role(row.role) for row in self.role_rows if row.confirmed_at is not None)

    @property
    def pending_roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows if row.confirmed_at is None)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """The session holds id and generation, so an older session no longer loads the user."""
        return f"{self.id}:{self.session_generation}"

    def end_sessions(self) -> None:
        """End every open session of this user (the caller commits)."""
        self.session_generation = (self.session_generation or 0) + 1

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint("role IN ('" + "', '".join(ROLE_VALUES) + "')", name="role_known"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Who proposed the role and when (None: the installation path, CLI or seeding). User ids
    # without a foreign key, so that user_roles keeps one path to users (plain joins stay plain).
    proposed_by_id: Mapped[int | None] = mapped_column(Integer)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # None while the role waits for its second person; a pending role gives nothing.
    confirmed_by_id: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Granted at installation (CLI or seeding) without a second person: shown as such.
    installation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="role_rows")


class LoginCounter(db.Model):
    """Login attempts of one account or one network address in the current window, counted by
    one conditional UPDATE so that parallel attempts cannot pass the limit together. The key is
    a keyed hash: the table never holds an e-mail address or network address in clear."""

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # An address past its threshold: no attempt before this moment (a growing delay).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
