"""Async engines and units of work for SQLite or PostgreSQL, plus the spine's own tables (outbox, processed_events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from shared.contracts.envelope import CloudEvent, new_event, utcnow  # utcnow: the one clock, imported from here
from shared.contracts.events import EventData


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite with its default storage format, the text SQLAlchemy would store, in one step.

        The composed default (this type's `process_bind_param`, then SQLite's DATETIME formatting a dict of seven
        fields) was a tenth of a batch consumer's CPU; the result is the same string (a property test checks it).
        """
        default = super().bind_processor(dialect)
        inner = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(inner, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
            return default

        def process(value: Any) -> Any:
            if value.__class__ is datetime and value.tzinfo is not None:
                utc = value if value.tzinfo is UTC else value.astimezone(UTC)
                return utc.isoformat(" ", "microseconds")[:26]  # without the "+00:00"
            return default(value) if default else value  # None, naive (refused), other types: as before

        return process


_SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


BigId = BigInteger().with_variant(Integer(), "sqlite")

# The spine tables exist in every service's database (each service has its own database).
spine_metadata = MetaData()

outbox = Table(
    "outbox",
    spine_metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # pending -> sent; a row that keeps failing stays pending with its attempt count and last error visible.
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_outbox_state_seq", "state", "seq"),
)

processed_events = Table(
    "processed_events",
    spine_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("processed_at", UTCDateTime, nullable=False),
)


T = TypeVar("T")
R = TypeVar("R")

# SQLite allows at most 999 bound parameters in old builds; IN (...) lists stay well below.
IN_LIST_SIZE = 500


def chunks(values: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """`values` in consecutive slices of at most `size` (for IN lists and batched writes)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


class _InsertPlan:
    """A table's INSERT for one set of columns, compiled once per dialect: the driver's SQL, the row's values in
    the statement's order, and the bind processors of the columns that have one."""

    __slots__ = ("processors", "sql", "values", "width")

    def __init__(self, table: Table, dialect: Dialect, keys: tuple[str, ...], as_is: frozenset[str]):
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(keys):
            raise ValueError(f"cannot insert {sorted(set(keys) - set(order))} into {table.name}")
        self.sql = compiled.string
        self.width = len(keys)
        getter = itemgetter(*order)
        self.values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            getter if len(order) > 1 else (lambda row: (getter(row),)))
        self.processors = tuple((i, proc) for i, key in enumerate(order) if key not in as_is
                                and (proc := table.c[key].type._cached_bind_processor(dialect)) is not None)


_UNSET = object()  # no value seen yet (None is a value)
_INSERT_PLANS: weakref.WeakKeyDictionary[Dialect, dict[tuple[Table, tuple[str, ...], frozenset[str]],
                                                       _InsertPlan | None]] = weakref.WeakKeyDictionary()


def _insert_plan(table: Table, dialect: Dialect, keys: tuple[str, ...], as_is: frozenset[str]) -> _InsertPlan | None:
    plans = _INSERT_PLANS.setdefault(dialect, {})
    cache_key = (table, keys, as_is)
    if cache_key not in plans:
        # A column left out that has a Python-side default needs SQLAlchemy to fill it in: no plan.
        defaulted = any(c.default is not None and c.key not in keys for c in table.columns)
        plans[cache_key] = None if defaulted else _InsertPlan(table, dialect, keys, as_is)
    return plans[cache_key]


async def insert_many(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *,
                      as_is: Collection[str] = ()) -> None:
    """INSERT rows that all have the same keys, in one executemany at the driver.

    What `session.execute(insert(table), rows)` stores, for a fraction of its CPU: SQLAlchemy's executemany
    processes every parameter of every row on its own (a fifth of a batch consumer's time went there); this
    compiles the statement once per table, columns and dialect, applies the columns' bind processors directly,
    and converts a value once when the rows share it (the batch's `now`). `as_is`: columns whose values are
    already in their stored form (JSON text serialised by the caller). A column left out must have no
    Python-side default (else SQLAlchemy's own path is taken).
    """
    if not rows:
        return
    conn = await session.connection()
    keys = tuple(rows[0])
    plan = _insert_plan(table, conn.dialect, keys, frozenset(as_is))
    if plan is None:
        await session.execute(insert(table), list(rows))
        return
    values, processors, width = plan.values, plan.processors, plan.width
    params: list[tuple[Any, ...]] = []
    if not processors:
        for row in rows:
            if len(row) != width:
                raise ValueError(f"rows for {table.name} must all have the keys {sorted(keys)}")
            params.append(values(row))
    else:
        last_in: list[Any] = [_UNSET] * len(processors)
        last_out: list[Any] = [None] * len(processors)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"rows for {table.name} must all have the keys {sorted(keys)}")
            value = list(values(row))
            for j, (i, process) in enumerate(processors):
                x = value[i]
                if x is last_in[j]:
                    value[i] = last_out[j]
                else:
                    last_in[j] = x
                    value[i] = last_out[j] = process(x)
            params.append(tuple(value))
    await conn.exec_driver_sql(plan.sql, params)


_WRITE_OPTION = "antq_write"  # execution option marking a unit of work's connection


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> AsyncEngine:
    """An async engine for a SQLAlchemy URL. SQLite gets WAL, a busy timeout and real SAVEPOINT support.

    `hide_parameters`: a failing statement's error (and so a log line) never carries its parameter values, which
    may be encrypted identities, receipt hashes or a reporter's description."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10,
                                   max_overflow=10)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so that SAVEPOINTs work (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A unit of work takes the write lock when it begins (BEGIN IMMEDIATE): a transaction that has read and
        # then writes while another connection holds the write lock gets "database is locked" at once, without
        # waiting for busy_timeout; one that begins IMMEDIATE waits for the lock like any writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")

    return engine


class Database:
    """One service's database: its engine, sessions and units of work."""

    def __init__(self, url: str, *, source: str, sqlite_synchronous: str = "FULL"):
        self.url = url
        self.source = source
        self.sqlite = is_sqlite(url)
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Units of work: on SQLite their transactions begin IMMEDIATE (see make_engine).
        self.write_sessionmaker = async_sessionmaker(self.engine.execution_options(**{_WRITE_OPTION: True}),
                                                     expire_on_commit=False)
        # SQLite allows one writer; serialising writers in-process avoids lock upgrades failing under load.
        self._write_lock = asyncio.Lock() if self.sqlite else None
        self._commit_listeners: list[Callable[[], None]] = []
        self._groups: dict[str, GroupCommit[Any, Any]] = {}

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Called after a transaction that appended outbox rows commits (the relay wakes up at once)."""
        self._commit_listeners.append(listener)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    def group_commit(self, name: str,
                     write: Callable[[list[Any], UnitOfWork], Awaitable[list[Any]]]) -> GroupCommit[Any, Any]:
        """The group commit named `name` (created on first use with `write`): see GroupCommit."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = GroupCommit(self, write)
        return group

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (no write lock)."""
        async with self.sessionmaker() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()

    def _notify_commit(self) -> None:
        for listener in self._commit_listeners:
            listener()


class UnitOfWork:
    """One transaction: load, decide, save, append events to the outbox, commit. Nothing is published here."""

    def __init__(self, db: Database):
        self.db = db
        self.session: AsyncSession
        self.events: list[CloudEvent] = []
        # The NATS subject of an event published elsewhere than on its type (replies to an agency), by event id.
        self._subjects: dict[str, str] = {}
        self._flushed = 0
        self._lock_cm: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._lock_cm = self.db.write_lock()
        await self._lock_cm.__aenter__()
        try:
            self.session = self.db.write_sessionmaker()
            await self.session.begin()
        except BaseException:
            await self._lock_cm.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        committed = False
        try:
            if exc_type is None:
                await self.flush_events()
                await self.session.commit()
                committed = True
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
            assert self._lock_cm is not None
            await self._lock_cm.__aexit__(None, None, None)
        if committed and self.events:
            self.db._notify_commit()

    def mark(self) -> int:
        """A point to rewind the collected events to when a savepoint is rolled back."""
        return len(self.events)

    def rewind(self, mark: int) -> None:
        del self.events[mark:]
        self._flushed = min(self._flushed, mark)

    def emit(self, data: EventData, *, subject: str | None = None, event_id: str | None = None,
             time: datetime | None = None, publish_on: str | None = None) -> CloudEvent:
        """Append a catalogue event to the outbox in this transaction; returns the envelope. `publish_on` is the
        NATS subject when it is not the event's type (a reply to an agency: `antq.outbound.<agency>.<Type>`)."""
        envelope = new_event(data, source=self.db.source, subject=subject, event_id=event_id, time=time)
        self.events.append(envelope)
        if publish_on is not None:
            self._subjects[envelope.id] = publish_on
        return envelope

    async def flush_events(self) -> None:
        """Write the collected events as outbox rows (called before commit by the context manager users)."""
        pending = self.events[self._flushed:]
        if not pending:
            return
        now = utcnow()
        await insert_many(self.session, outbox, [
            {"event_id": e.id, "subject": self._subjects.get(e.id, e.type), "event_type": e.type,
             "payload": e.to_bytes(), "state": "pending", "attempts": 0, "created_at": now}
            for e in pending
        ])
        self._flushed = len(self.events)

    async def commit(self) -> None:
        await self.flush_events()
        await self.session.commit()
        await self.session.begin()


async def seen_events(session: AsyncSession, *, consumer: str, event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    rows = await session.execute(
        select(processed_events.c.event_id).where(processed_events.c.consumer == consumer,
                                                 processed_events.c.event_id.in_(event_ids))
    )
    return {r[0] for r in rows}


_CLAIM_SQLITE = text(
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT :consumer, value, :at FROM json_each(:ids) WHERE true ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("at", type_=UTCDateTime))
_CLAIM_POSTGRES = text(
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT :consumer, unnest(CAST(:ids AS text[])), :at ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("at", type_=UTCDateTime), bindparam("ids", type_=ARRAY(String)))


async def claim_events(session: AsyncSession, *, consumer: str, event_ids: list[str]) -> set[str]:
    """Record events as processed by a consumer in one statement; returns those not recorded before.

    The statement carries the ids as one parameter (a JSON array on SQLite, an array on PostgreSQL), so its cost
    hardly grows with the batch; the caller's transaction must roll back if any of them is then not processed.
    """
    if not event_ids:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        rows = await session.execute(_CLAIM_POSTGRES, {"consumer": consumer, "at": utcnow(), "ids": event_ids})
    else:
        rows = await session.execute(_CLAIM_SQLITE, {"consumer": consumer, "at": utcnow(),
                                                     "ids": json.dumps(event_ids)})
    return {r[0] for r in rows}


async def pairs_present(session: AsyncSession, first: Any, second: Any, pairs: Iterable[tuple[str, str]],
                        *where: Any) -> set[tuple[str, str]]:
    """Which (first, second) value pairs have a row (with the `where` conditions too): one statement per value of
    `first` and chunk of `second` values, as an inbound message's (agency, reference) is looked up."""
    by_first: dict[str, list[str]] = {}
    for a, b in dict.fromkeys(pairs):
        by_first.setdefault(a, []).append(b)
    out: set[tuple[str, str]] = set()
    for a, values in sorted(by_first.items()):
        for chunk in chunks(values):
            rows = await session.execute(select(second).where(first == a, second.in_(chunk), *where))
            out |= {(a, r[0]) for r in rows}
    return out


async def write_rows(session: AsyncSession, table: Table, key: Sequence[str], *, new: Sequence[dict[str, Any]],
                     changed: Sequence[dict[str, Any]]) -> None:
    """Insert the `new` rows and update the `changed` ones by their `key` columns (every other column is
    written), one statement each: how a batch writes back rows it read and changed in memory."""
    if new:
        await insert_many(session, table, new)
    if changed:
        columns = [c.name for c in table.columns if c.name not in key]
        await session.execute(
            update(table).where(*(table.c[k] == bindparam(f"key_{k}") for k in key))
            .values({c: bindparam(c) for c in columns}),
            [{**{f"key_{k}": row[k] for k in key}, **{c: row[c] for c in columns}} for row in changed])


# Which failures are the database's or the network's (retried as they are, without limit: a consumer naks the event
# with back-off and never dead-letters it; HTTP answers 503) and which are the data's or the code's (a consumer
# retries the event up to its delivery limit, then dead-letters it with the reason). One answer for both databases,
# read from the driver's error code, not from the exception's class: a missing table is SQLite's `OperationalError`
# but PostgreSQL's `ProgrammingError`, a database that does not exist a plain `DBAPIError` on asyncpg.
#
# PostgreSQL SQLSTATEs: by class, connection (08), login (28), resources (53), operator intervention (57: shutdown,
# statement timeout), system (58); one by one, serialization failure and deadlock (40001, 40P01), lock not
# available (55P03), no privilege (42501), and a schema that is not there (yet): no such database (3D000), schema
# (3F000), table or relation (42P01) or column (42703).
_PG_INFRASTRUCTURE_CLASSES = ("08", "28", "53", "57", "58")
_PG_INFRASTRUCTURE_CODES = frozenset({"40001", "40P01", "55P03", "42501", "3D000", "3F000", "42P01", "42703"})
# SQLite's result codes for the same (extended codes such as SQLITE_IOERR_SHORT_READ start with them), and the
# messages of its generic SQLITE_ERROR for a table or column that is not there.
_SQLITE_INFRASTRUCTURE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL",
                                "SQLITE_READONLY", "SQLITE_NOMEM", "SQLITE_PROTOCOL", "SQLITE_NOTADB",
                                "SQLITE_CORRUPT", "SQLITE_PERM", "SQLITE_AUTH")
_SQLITE_MISSING = ("no such table", "no such column")


def is_infrastructure_error(exc: BaseException) -> bool:
    """Whether a failure is the database's or the network's (retried as it is: a database that is unreachable,
    locked, or without the table or column the code expects), not the data's or the code's (a constraint the
    event breaks, a value the column refuses, a syntax error): the one classification of the consumers, the group
    commit and the HTTP answers, the same on SQLite and PostgreSQL."""
    if isinstance(exc, (SQLAlchemyTimeout, DisconnectionError, InterfaceError)):
        return True  # no connection from the pool in time, or the connection itself failed
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        says = _driver_says_infrastructure(exc.orig)
        return isinstance(exc, OperationalError) if says is None else says
    says = _driver_says_infrastructure(exc)
    if says is not None:
        return says
    return isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError))


def _driver_says_infrastructure(error: BaseException | None) -> bool | None:
    """The driver's error code read as infrastructure or not; None when the error carries no code."""
    if isinstance(error, OSError):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _PG_INFRASTRUCTURE_CLASSES or sqlstate in _PG_INFRASTRUCTURE_CODES
    name = getattr(error, "sqlite_errorname", None)
    if isinstance(name, str) and name:
        if name == "SQLITE_ERROR":
            return str(error).startswith(_SQLITE_MISSING)
        return name.startswith(_SQLITE_INFRASTRUCTURE_CODES)
    return None


class GroupCommit(Generic[T, R]):
    """Concurrent writers' units of work in one transaction ("group commit").

    `write(items, uow)` writes a batch of items in the caller's transaction and returns one result per item.
    `submit(item)` returns once `item` is written and committed, as a unit of work of its own would, but the
    items that arrive while a transaction is being written wait and then share the next one: one BEGIN, one
    COMMIT (one fsync) and one hold of the write lock for all of them. Nothing waits on purpose; under light load
    each item is its own batch. If writing any item of a batch raises, the batch is rolled back and each of its
    items is written again in a transaction of its own, so one bad item fails alone; a database that is down or
    locked fails them all alike (each caller sees the error, e.g. 503).
    """

    def __init__(self, db: Database, write: Callable[[list[T], UnitOfWork], Awaitable[list[R]]], *,
                 max_batch: int = 64):
        self.db = db
        self.write = write
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # transactions written, for tests and metrics

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        # Marks a failure as seen even when the caller has gone away (no "exception never retrieved" noise).
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append((item, future))
        if not self._draining:
            self._draining = True
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A caller that goes away (client disconnected) does not cancel the write others share.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                await self._write_batch(batch)
        finally:
            self._draining = False

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        try:
            async with self.db.unit_of_work() as uow:
                results = await self.write([item for item, _ in batch], uow)
        except Exception as exc:  # noqa: BLE001 — settled below, item by item
            if len(batch) == 1 or is_infrastructure_error(exc):
                for _, future in batch:
                    _settle(future, exc=exc)
                return
            for item, future in batch:
                try:
                    async with self.db.unit_of_work() as uow:
                        [result] = await self.write([item], uow)
                except Exception as one:  # noqa: BLE001 — this item's own failure
                    _settle(future, exc=one)
                else:
                    _settle(future, result=result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
