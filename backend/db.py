"""The database handle: Flask-SQLAlchemy over a typed SQLAlchemy 2.0 declarative base."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

IN_LIST_SIZE = 500  # ids per IN (...) list: an index lookup each, far below any driver's limit


def in_chunks(ids: Iterable[int], size: int = IN_LIST_SIZE) -> Iterator[list[int]]:
    """The ids, sorted, in lists for `column.in_(...)`: a query over a car's trips then costs
    what that car has, whatever the table holds (a BETWEEN over the ids' span does not: when
    uploads of many cars interleave, one car's span covers the whole fleet's year)."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def among(column, ids: Iterable[int]) -> Iterator:
    """`column IN ids` as the conditions of as few statements as the database takes: on
    PostgreSQL one `column = ANY(:ids)` (one array parameter however many ids: no statement of
    hundreds of parameters to build, parse and plan per car of a fleet export), elsewhere one
    IN list per in_chunks chunk. Nothing for no ids."""
    ordered = sorted(set(ids))
    if not ordered:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        # The driver's array parameter, not integer_array(): a generic plan that filters rows
        # (no index scan) would cast integer_array's text again for every row.
        from sqlalchemy import Integer, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY
        yield column == any_(bindparam(None, ordered, type_=ARRAY(Integer)))
        return
    for chunk in in_chunks(ordered):
        yield column.in_(chunk)


def integer_array(values: Iterable[int]):
    """A PostgreSQL integer[] parameter, sent as its text '{1,2,3}' and cast by the server: the
    driver's own array adapter checks every element for quoting, ~0.6 ms per thousand values.
    Only where the statement evaluates it once (unnest() in a subquery): in a row filter of a
    generic plan the server would cast the text again for every row."""
    from sqlalchemy import Integer, Text, bindparam, cast
    from sqlalchemy.dialects.postgresql import ARRAY
    return cast(bindparam(None, "{" + ",".join(str(int(value)) for value in values) + "}", type_=Text),
                ARRAY(Integer))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def database_now(bind=None) -> datetime:
    """The database server's clock (UTC), through a session or connection (default: the app's
    session): the one clock that every web worker, job worker and server shares, for leases and
    locks that one process takes and another must respect. clock_timestamp(), not now(): now()
    stays at the start of the transaction."""
    bind = bind if bind is not None else db.session
    dialect = bind.dialect if hasattr(bind, "dialect") else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return bind.scalar(text("SELECT clock_timestamp()")).astimezone(timezone.utc)
    value = bind.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite enforces foreign keys only when asked, per connection; WAL lets readers and
    the one writer work side by side; secure_delete zeroes what a write removes (the clear
    positions of a trip sealed when classified private must not stay in free space)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
