"""Fake database drivers, and a loader that runs a fixture's code against them.

A fixture is executed with its own imports resolved by `FakeImporter`: standard-library modules
that only compute (contextlib, functools, logging, ...) are the real ones; every other module
(psycopg2, psycopg, psycopg_pool, sqlite3, asyncpg, sqlalchemy, fastapi, the fixture's own
package, ...) is a `Fake`, so `psycopg2.pool.ThreadedConnectionPool(...)` builds a fake pool,
`SessionLocal()` a fake session, and `@app.get("/")` leaves the function as it is.

What a fake does is decided by the call that made it, following the drivers' documented behaviour:

- `pool.getconn()` (psycopg2), `psycopg2.connect()`, `sqlite3.connect()`, `pyodbc.connect()`,
  `dataset.connect()`: a connection (or database) whose `with` block only ends the transaction
  (commit or rollback), it does not close it;
- `psycopg.connect()`, `engine.connect()`, `engine.begin()`, `pymysql.connect()`, a SQLAlchemy
  session (`Session(...)`, `SessionLocal()`, any `sessionmaker()()`): `with` closes it;
- `pool.connection()` (psycopg_pool): a context manager that gets a connection and puts it back;
- `pool.acquire()` (asyncpg): awaitable (a connection to release) and an async context manager.

Every resource records what is done to it in `World.events`; a call on a released resource (or
on anything made from it, a cursor, a result) raises `UseAfterRelease`, except `close()` again on
a connection or session (SQLAlchemy sessions and connections, psycopg 3, psycopg2, sqlite3), a
no-op there; a pool's `putconn()`/`release()` of a connection already given back still raises.
`World.fail_at` makes the n-th use of a resource raise `InjectedError` (or, with
`World.interrupt`, `InjectedInterrupt`, a `BaseException`), to walk the error paths.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import itertools
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Modules that only compute: the fixture gets the real ones.
REAL = frozenset(
    {
        "__future__",
        "abc",
        "collections",
        "contextlib",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",
        "itertools",
        "re",
        "types",
        "typing",
        "typing_extensions",
    }
)
# Calls on a resource that return the same resource: SQLAlchemy 2's
# `Connection.execution_options()` changes the connection in place and returns it.
SAME_RESOURCE = frozenset({"execution_options"})
# Calls that give a resource back when handed one: psycopg2 `putconn`, asyncpg `release`.
RELEASING = frozenset({"putconn", "release"})
# A resource's own methods that give it back: `close()`, and `disconnect()` for clients whose
# library names it so (clickhouse-driver's `Client`).
SELF_RELEASING = frozenset({"close", "disconnect"})
# A resource's own methods that hand out another resource: a records `Database` lends
# connections of its engine (`db.get_connection()`), each closed on its own.
HANDS_OUT = frozenset({"get_connection"})
# Calls whose result is plain data (DB-API/asyncpg rows, SQLAlchemy `Result.all()` and friends).
READS = frozenset(
    {"fetchone", "fetchall", "fetchmany", "fetchrow", "fetchval", "fetch", "scalar", "all"}
    | {"first", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "count", "get"}
)
# Methods a subclass of a faked driver class may reach through `super()`.
BASE_METHODS = ("getconn", "putconn", "closeall", "connection", "acquire", "release", "close")
RUNNABLE = (types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType)
WAITS = frozenset(
    {"sleep()", "get()", "wait()", "listen()", "recv()", "receive()", "receive_text()"}
    | {"receive_json()", "receive_bytes()"}
)
# asyncio's wrappers that await what they are given and return its result (asyncio docs,
# `wait_for` and `shield`): around a pool's `acquire()`, the awaited value is the connection.
AWAITING = frozenset({"asyncio.wait_for", "asyncio.shield"})
# Calls that end a session's transaction: it holds no connection after them.
ENDS_TRANSACTION = frozenset({"commit()", "rollback()", "close()", "reset()"})
MANAGERS = frozenset({"pool-cm", "acquire"})
# Names of exception classes (`HTTPException`, Starlette's `WebSocketDisconnect`): real classes,
# so that `except` clauses naming them work.
EXCEPTION_SUFFIXES = (
    "Error",
    "Exception",
    "Warning",
    "Timeout",
    "Disconnect",
)  # hand out a resource; not one themselves
SESSION_FACTORIES = frozenset({"sessionmaker", "async_sessionmaker", "scoped_session"})


class UseAfterRelease(BaseException):
    """The code used a resource (or a cursor/result of it) after giving it back."""


class InjectedError(Exception):
    """The failure injected at a chosen use of a resource."""


class InjectedInterrupt(BaseException):
    """The failure injected as a `BaseException`: a KeyboardInterrupt, or a task cancelled at an
    await (`asyncio.CancelledError` is a `BaseException` since Python 3.8), which passes
    `except Exception:`."""


class Exhausted(BaseException):
    """The run made more calls than the budget allows (a polling loop): stopped there."""


@dataclass
class World:
    """One run: the events of every resource, and where to inject a failure."""

    fail_at: int | None = None  # fail the n-th call once a resource was acquired (1-based)
    fail_after: bool = False  # and every call after it (an error handler that fails too)
    interrupt: bool = False  # fail with `InjectedInterrupt` instead of `InjectedError`
    acquiring: frozenset[str] = frozenset()  # methods of a project's own pool (its `kinds`)
    releasing: frozenset[str] = frozenset()
    truth: bool = True  # how fakes answer tests: `if rows`, `x in y`, `n == 0`, `a < b`
    equal_at: int | None = None  # else only the n-th `fake == value` is true (a `match` case)
    comparisons: int = 0
    budget: int = 400
    events: list[tuple[str, str]] = field(default_factory=list)
    resources: list[Fake] = field(default_factory=list)
    uses: int = 0
    # How many resources were open at each wait on the outside world (LC402's awaits: a sleep,
    # `queue.get()`, a websocket receive, `event.wait()`), in order.
    waiting: list[int] = field(default_factory=list)
    # Generators and coroutines given to a fake (`StreamingResponse(gen())`, `create_task(c)`):
    # run after the call returns, as the framework or the event loop would.
    pending: list[Any] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def record(self, fake: Fake, what: str) -> None:
        if len(self.events) >= self.budget:
            raise Exhausted
        self.events.append((fake.label, what))

    def use(self, fake: Fake, what: str) -> None:
        """A call on a resource or something made from it, or on any fake once one was acquired:
        the n-th such call fails when `fail_at` is n."""
        root = fake.root
        if root is not None and root.released:
            self.events.append((fake.label, f"{what} after release"))
            raise UseAfterRelease(f"{fake.label}.{what}")
        self.record(fake, what)
        if root is None and what in WAITS:
            self.waiting.append(len(self.holding()))
        if root is not None and not what.startswith(("release: ", "__enter__")):
            # A session checks a connection out on first use and gives it back at the end of
            # its transaction (SQLAlchemy "autobegin"; `commit()`, `rollback()`, `close()`).
            root.dirty = what not in ENDS_TRANSACTION
        # Counted from the first acquisition on, released or not: a fix that gives a resource
        # back earlier (LC402, or in each iteration of a loop) must not shift which call a
        # failure is injected at.
        if not what.startswith(("release: ", "__enter__")) and self.resources:
            self.uses += 1
            at = self.fail_at
            if at is not None and (self.uses == at or (self.fail_after and self.uses > at)):
                self.events.append((fake.label, f"{what} fails"))
                raise (InjectedInterrupt if self.interrupt else InjectedError)(
                    f"{fake.label}.{what}"
                )

    def open(self) -> list[str]:
        """Labels of the resources acquired and not given back."""
        return [r.label for r in self.resources if not r.released]

    def holding(self) -> list[str]:
        """Labels of the resources that hold a connection now: open, and for a session made by
        a session factory (`SessionLocal()`), used since its transaction last ended (an unused
        session holds no connection)."""
        return [r.label for r in self.resources if not r.released and (r.dirty or not r.lazy)]


class Fake:
    """Any object of a faked module: attributes and calls make more fakes.

    `kind` is set on resources: "transaction" (`with` ends the transaction only), "closes" (`with`
    closes it), "pool-cm" (a context manager lending a pooled connection), "acquire" (asyncpg's
    awaitable/async context manager). `root` is the resource a fake was made from, if any.
    """

    def __init__(
        self, world: World, path: str, root: Fake | None = None, kind: str = "", owner: Any = None
    ) -> None:
        self._world = world
        self._path = path
        self.root = root
        self.kind = kind
        self.released = False
        self.lazy = False  # a session: holds a connection only while `dirty`
        self.dirty = False
        self._owner = owner  # the pool a pooled connection or context manager comes from
        self._children: dict[str, Fake] = {}
        if kind in MANAGERS:
            self.label = f"{kind}#{next(world.counter)}"
        elif kind:
            self.label = f"{kind}#{next(world.counter)}"
            self.root = self
            world.resources.append(self)
            source = path  # the same for `await p.acquire()` and `async with p.acquire()`
            for suffix in (".await", ".__aenter__()", ".__enter__()"):
                source = source.removesuffix(suffix)
            world.record(self, f"acquired by {source}")
        else:
            self.label = path if root is None else f"{root.label}:{path.rsplit('.', 1)[-1]}"

    # -- attributes and calls -------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in RELEASING and "." not in self._path and self.root is None and not self.kind:
            # `psycopg2.putconn(conn)`: driver modules have no release function of their own.
            raise AttributeError(f"module {self._path!r} has no attribute {name!r}")
        if name.endswith(EXCEPTION_SUFFIXES) and name[0].isupper():
            return _exception_class(f"{self._path}.{name}")
        if name not in self._children and (self._path, name) == ("tortoise", "Tortoise"):
            self._children[name] = FakeHeldBySource(self._world, "tortoise.Tortoise", TORTOISE)
        if name not in self._children:
            self._children[name] = Fake(self._world, f"{self._path}.{name}", self.root)
        return self._children[name]

    def __setattr__(self, name: str, value: Any) -> None:
        own = name.startswith("_") or name in ("root", "kind", "released", "label", "lazy", "dirty")
        if not own and self.root is not None:
            self._world.use(self, f"{name} =")
        object.__setattr__(self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if (
            self.root is None
            and len(args) == 1
            and not kwargs
            and not isinstance(args[0], Fake)
            and callable(args[0])
        ):
            return args[0]  # a decorator (`@app.get("/")`), not `db.query(Item)` on a resource
        name = self._path.rsplit(".", 1)[-1]
        parent = self._path.rsplit(".", 1)[0] if "." in self._path else ""
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, RUNNABLE):
                self._world.pending.append(arg)
        if self.root is not None:
            closing = name in SELF_RELEASING and self.root is self._parent_resource()
            if closing and self.root.released and self.root.kind in ("closes", "transaction"):
                # Closing again is allowed: SQLAlchemy's `Session.close()` and `Connection.close()`
                # and psycopg 3's `close()` do nothing more on a closed one; nor do sqlite3's
                # (CPython `Modules/_sqlite/connection.c`: `connection_close` checks `self->db`)
                # and psycopg2's (`conn_close` returns when `closed == 1`).
                self._world.record(self, "release: close() again")
                return Fake(self._world, f"{self._path}()")
            if name in HANDS_OUT and self.root is self._parent_resource():
                self._world.use(self, f"{name}()")
                return Fake(self._world, f"{self._path}()", kind="closes", owner=self)
            self._world.use(self, f"release: {name}()" if closing else f"{name}()")
            if closing:
                self.root.released = True
            if name in READS:  # rows and records are values, readable after the release
                return Fake(self._world, f"{self.label}()")
            if name in SAME_RESOURCE and self._parent_resource() is self.root:
                return self.root
            return Fake(self._world, f"{self._path}()", self.root)
        for arg in args:
            if isinstance(arg, Fake) and arg.kind and name in RELEASING | self._world.releasing:
                self._world.use(arg, f"release: {name}")
                arg.released = True
                return Fake(self._world, f"{self._path}()")  # awaitable: `await pool.release(c)`
        self._world.use(self, f"{name}()")
        if self._path in AWAITING and args and isinstance(args[0], Fake) and args[0].kind:
            return _Awaiting(args[0])  # `await asyncio.wait_for(pool.acquire(), 5)`: the connection
        top = self._path.split(".", 1)[0]
        held = _held_by_source(top, name)
        if held is not None:
            return FakeHeldBySource(self._world, f"{self._path}()", held)
        kind = "pooled" if name in self._world.acquiring else _kind_of(top, parent, name)
        made = Fake(self._world, f"{self._path}()", kind=kind, owner=self)
        made.lazy = kind == "closes" and _is_session_factory(name)
        return made

    def _parent_resource(self) -> Fake | None:
        """`conn.close()`: the resource whose `close` this is (not a cursor's)."""
        owner = self._path.rsplit(".", 1)[0]
        return self.root if self.root is not None and owner == self.root._path else None

    # -- protocols --------------------------------------------------------------------------------

    def __enter__(self) -> Any:
        if self.kind == "pool-cm":
            return Fake(self._world, f"{self._path}.__enter__()", kind="pooled", owner=self)
        if self.root is not None:
            self._world.use(self, "__enter__")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._exit(exc_type)

    def _exit(self, exc_type: Any) -> None:
        if self.kind in ("pool-cm", "acquire"):
            for resource in self._world.resources:
                if resource._owner is self and not resource.released:
                    self._world.record(resource, "release: with")
                    resource.released = True
            return
        if self.root is None:
            return
        if self.kind == "closes":
            self._world.record(self, "release: with")
            self.released = True
        elif self.kind:
            self._world.record(self, "commit" if exc_type is None else "rollback")

    async def __aenter__(self) -> Any:
        if self.kind == "acquire":
            return Fake(self._world, f"{self._path}.__aenter__()", kind="pooled", owner=self)
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._exit(exc_type)

    def __await__(self) -> Iterator[Any]:
        if self.kind == "acquire":
            return Fake(self._world, f"{self._path}.await", kind="pooled")
        yield from ()
        return self

    def __iter__(self) -> Iterator[Any]:
        if self.root is not None:
            self._world.use(self, "__iter__")
        if self._world.truth:
            yield Fake(self._world, f"{self._path}[0]", self.root)

    def __aiter__(self) -> Any:
        return _AsyncOnce(self)

    def __getitem__(self, key: Any) -> Any:
        if self.root is not None:
            self._world.use(self, "[]")
        return Fake(self._world, f"{self._path}[]", self.root)

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.root is not None:
            self._world.use(self, "[] =")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        """`class Pool(ThreadedConnectionPool):`, `class User(Base):` with a fake base: a real
        class taking any arguments, whose missing attributes are fakes."""
        world, path = self._world, self._path
        delegate = Fake(world, f"{path}()")  # what the base's own methods act on

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            pass

        def missing(self: Any, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return getattr(delegate, name)

        def forward(name: str) -> Any:
            return lambda self, *args, **kwargs: getattr(delegate, name)(*args, **kwargs)

        members: dict[str, Any] = {"__init__": init, "__getattr__": missing}
        members |= {name: forward(name) for name in BASE_METHODS}  # for `super().getconn()`
        return (type(path.rsplit(".", 1)[-1], (), members),)

    def __bool__(self) -> bool:
        return self._world.truth

    def __len__(self) -> int:
        return int(self._world.truth)

    def __contains__(self, item: Any) -> bool:
        return self._world.truth

    def __int__(self) -> int:
        return 1

    def __float__(self) -> float:
        return 1.0

    def __index__(self) -> int:
        return 1

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<{self.label}>"

    def __format__(self, spec: str) -> str:
        return self.label

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        if self is other or isinstance(other, Fake):
            return self is other
        world = self._world
        if world.equal_at is None:
            return world.truth
        world.comparisons += 1
        return world.comparisons == world.equal_at

    def __lt__(self, other: object) -> bool:
        return self._world.truth

    __gt__ = __le__ = __ge__ = __lt__

    def __or__(self, other: Any) -> Any:
        return self

    __ror__ = __add__ = __radd__ = __sub__ = __mul__ = __truediv__ = __mod__ = __or__


@dataclass(frozen=True)
class HeldBySource:
    """How a database object that holds its connection opens and closes it."""

    opens: str
    closes: str
    awaited: bool  # `await database.connect()`
    raises_if_open: bool  # connecting again raises (unless `reuse_if_open=True`)


# peewee: `connect()` raises `OperationalError` when already open unless `reuse_if_open=True`,
# `close()` on a closed one returns False, `with db:` and `with db.connection_context():` open
# it if closed and close it on exit (peewee docs, "Connection Lifecycle"; peewee.py).
# databases: `await database.connect()` establishes the pool (again: does nothing), `await
# database.disconnect()` closes it (again: does nothing), `async with Database(url)` does both
# (databases docs, "Connections and Transactions"; databases/core.py).
PEEWEE = HeldBySource("connect", "close", awaited=False, raises_if_open=True)
DATABASES = HeldBySource("connect", "disconnect", awaited=True, raises_if_open=False)
# Tortoise ORM: the class itself: `await Tortoise.init(...)` opens the connections,
# `await Tortoise.close_connections()` closes them (Tortoise docs, "Set up").
TORTOISE = HeldBySource("init", "close_connections", awaited=True, raises_if_open=False)


class FakeHeldBySource(Fake):
    """A database object that holds the connection itself: opening it makes the object the
    resource, closing it gives it back (see `HeldBySource`)."""

    def __init__(self, world: World, path: str, how: HeldBySource) -> None:
        super().__init__(world, path)
        self._how = how

    def __getattr__(self, name: str) -> Any:
        how = self.__dict__.get("_how")
        if how is not None and name == how.opens:
            return self._aopen if how.awaited else self._open
        if how is not None and name == how.closes:
            return self._aclose if how.awaited else self._close
        if name == "is_closed":
            return lambda: self.root is None or self.released
        if name == "is_connected":
            return self.root is not None and not self.released
        if name == "connection_context":
            return lambda: self
        if name.startswith("__") or self.root is None:
            return super().__getattr__(name)
        return Fake(self._world, f"{self._path}.{name}", self.root)  # a use of the connection

    def _open(self, *args: Any, reuse_if_open: bool = False, **kwargs: Any) -> bool:
        if self.root is not None and not self.released:
            if reuse_if_open or not self._how.raises_if_open:
                return False
            raise _exception_class("peewee.OperationalError")("Connection already opened.")
        self._world.use(self, f"{self._how.opens}()")
        if self.root is None:
            self.label = f"database#{next(self._world.counter)}"
            self.kind = "closes"
            self.root = self
            self._world.resources.append(self)
        self.released = False
        self._world.record(self, f"acquired by {self._path}.{self._how.opens}")
        return True

    def _close(self) -> bool:
        if self.root is None or self.released:
            self._world.record(self, f"release: {self._how.closes}() again")
            return False
        self._world.use(self, f"release: {self._how.closes}()")
        self.released = True
        return True

    async def _aopen(self, *args: Any, **kwargs: Any) -> None:
        self._open()

    async def _aclose(self) -> None:
        self._close()

    def __enter__(self) -> Any:
        if self.root is None or self.released:
            self._open()
        self._world.use(self, "__enter__")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._close()

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._close()


def _held_by_source(top: str, name: str) -> HeldBySource | None:
    """`SqliteDatabase(...)`, `PooledPostgresqlDatabase(...)`, `playhouse.db_url.connect(url)`
    (peewee); `databases.Database(url)`."""
    if top in ("peewee", "playhouse") and (
        name.endswith("Database") or (name == "connect" and top == "playhouse")
    ):
        return PEEWEE
    if top == "databases" and name == "Database":
        return DATABASES
    return None


# Async iterators whose every step waits on the outside world (LC402): a websocket's messages,
# a pub/sub subscription.
ASYNC_WAITS = frozenset({"iter_text()", "iter_bytes()", "iter_json()", "listen()"})


class _AsyncOnce:
    def __init__(self, fake: Fake) -> None:
        self._items = iter(fake)
        waits = fake.root is None and fake._path.rsplit(".", 1)[-1] in ASYNC_WAITS
        self._world = fake._world if waits else None

    def __aiter__(self) -> _AsyncOnce:
        return self

    async def __anext__(self) -> Any:
        if self._world is not None:
            self._world.waiting.append(len(self._world.holding()))
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


_EXCEPTIONS: dict[str, type[Exception]] = {}


def _exception_class(path: str) -> type[Exception]:
    """`psycopg2.OperationalError`, `HTTPException`: a real exception class per name."""
    if path not in _EXCEPTIONS:
        _EXCEPTIONS[path] = type(path.rsplit(".", 1)[-1], (Exception,), {})
    return _EXCEPTIONS[path]


def _is_session_factory(name: str) -> bool:
    """`SessionLocal()`, `Session(engine)`, `AsyncSession(engine)`, any `sessionmaker()()`."""
    if name.endswith(tuple(f"{f}()" for f in SESSION_FACTORIES)):
        return True
    return "session" in name.lower() and name not in SESSION_FACTORIES and name[0].isupper()


def _kind_of(top: str, parent: str, name: str) -> str:
    """What calling `<parent>.<name>` of module `top` makes (see the module docstring)."""
    if name == "getconn":
        return "pooled"
    if name == "connect":
        if top in ("psycopg2", "sqlite3", "pyodbc", "dataset"):
            return "transaction"  # pyodbc, dataset: `with` commits or rolls back, leaves it open
        return "closes"  # psycopg 3, pymysql, mysql.connector, SQLAlchemy engines, asyncpg
    if name in ("begin", "raw_connection"):
        return "closes" if "engine" in parent.lower() else ""
    if name == "scoped_session":
        return "closes"  # a per-call registry: close() (or remove()) ends its session
    if name in ("Client", "from_url") and top == "clickhouse_driver":
        return "closes"  # its `disconnect()` (or `with`) drops the connection (0.2.2+)
    if name == "get_async_client" and top == "clickhouse_connect":
        return "closes"  # `close()` (or `async with`) closes its aiohttp session
    if name == "Database" and top == "records":
        return "closes"  # records: `close()` (or `with`) disposes its engine
    if name == "get_connection" and top == "records":
        return "closes"  # a records connection: `close()` (or `with`) gives it back
    if name == "connection" and top == "dbutils":
        return "closes"  # DBUtils `PooledDB.connection()`: close() gives it back to the pool
    if name == "connection" and "pool" in parent.lower():
        return "pool-cm"
    if name == "get_connection" and "pool" in parent.lower():
        return "closes"  # mysql-connector: the pooled connection's close() gives it back
    if name == "SessionPool" and top in ("oracledb", "cx_Oracle"):
        return ""  # a pool (cx_Oracle's name for it), not a session
    if name == "acquire" and top in ("oracledb", "cx_Oracle"):
        return "closes"  # python-oracledb: a pooled connection's close() (or `with`) releases it
    if name == "acquire" and top not in ("threading", "asyncio", "multiprocessing"):
        return "acquire"
    if name.endswith(tuple(f"{f}()" for f in SESSION_FACTORIES)):
        return "closes"
    if "session" in name.lower() and name not in SESSION_FACTORIES and name[0].isupper():
        return "closes"  # `Session(engine)`, `SessionLocal()`, `AsyncSession(engine)`
    if name.lower().endswith(("session_class", "session_factory", "session_maker")):
        return "closes"  # `self._db_session_class()`: a session class kept on a (fake) `self`
    return ""


class _Awaiting:
    """What `asyncio.wait_for(aw, ...)` and `asyncio.shield(aw)` return: awaiting it awaits `aw`."""

    def __init__(self, inner: Fake) -> None:
        self._inner = inner

    def __await__(self) -> Iterator[Any]:
        return (yield from self._inner.__await__())


class FakePytest:
    """The `pytest` a fixture imports: a fake, but for `pytest.raises`, which behaves as pytest's
    does with an exception the fakes never raise (their errors are never the expected type): it
    lets every error through, and fails the test when none comes ("DID NOT RAISE")."""

    def __init__(self, fake: Fake) -> None:
        self._fake = fake

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fake, name)

    @staticmethod
    def raises(*expected: Any, **options: Any) -> contextlib.AbstractContextManager[None]:
        return _NoExpectedError()


class _NoExpectedError:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, trace: Any) -> bool:
        if kind is None:
            raise AssertionError("DID NOT RAISE")  # pytest's `Failed`, as an ordinary error
        return False


class FakeImporter:
    """`__import__` for a fixture: real computing modules; the fixture's own project's modules
    (files under `root`, loaded with this importer, once); fakes for the rest (one per name)."""

    def __init__(self, world: World, root: Path | None) -> None:
        self.world = world
        self.root = root
        self.modules: dict[str, Any] = {}

    def __call__(
        self,
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if level == 0 and name.split(".", 1)[0] in REAL:
            return builtins.__import__(name, globals, locals, fromlist, level)
        if level:
            package = (globals or {}).get("__package__") or ""
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            name = f"{base}.{name}" if name else base
        module = self._project(name)
        if module is not None:
            if fromlist:
                return module
            return self._project(name.split(".", 1)[0])
        path = name if fromlist else name.split(".", 1)[0]
        if path not in self.modules:
            fake = Fake(self.world, path)
            self.modules[path] = FakePytest(fake) if path == "pytest" else fake
        return self.modules[path]

    def _project(self, name: str) -> types.ModuleType | None:
        """The project's module `name` (`app.deps`), run with fake imports; None if not ours."""
        if self.root is None or not name:
            return None
        if name in self.modules:
            module = self.modules[name]
            return module if isinstance(module, types.ModuleType) else None
        base = self.root.joinpath(*name.split("."))
        for file, package in ((base / "__init__.py", name), (base.with_suffix(".py"), None)):
            if file.is_file():
                module = types.ModuleType(name)
                module.__package__ = package or name.rpartition(".")[0]
                self.modules[name] = module
                load(file.read_text(), self.world, str(file), self, vars(module))
                parent, _, last = name.rpartition(".")
                if parent and self._project(parent) is not None:
                    setattr(self.modules[parent], last, module)
                return module
        return None


def project_root(path: Path) -> tuple[Path | None, str]:
    """The directory above the fixture's top package, and the fixture's package name; for a
    fixture outside any package, its own directory (its sibling modules are importable, as for
    a script: `from realtime_db import get_db`)."""
    if not (path.parent / "__init__.py").is_file():
        return path.parent, ""
    top = path.parent
    while (top.parent / "__init__.py").is_file():
        top = top.parent
    package = ".".join(path.parent.relative_to(top.parent).parts)
    return top.parent, package


@functools.lru_cache(maxsize=64)
def _compiled(source: str, filename: str) -> types.CodeType:
    return compile(source, filename, "exec")


def load(
    source: str,
    world: World,
    filename: str,
    importer: FakeImporter | None = None,
    namespace: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a fixture's module code with faked imports; its namespace."""
    if importer is None:
        root, package = project_root(Path(filename))
        importer = FakeImporter(world, root)
        namespace = {"__name__": "fixture", "__package__": package}
    assert namespace is not None
    namespace["__builtins__"] = {
        **vars(builtins),
        "__import__": importer,
        "open": Fake(world, "open"),  # never touch files
        "input": Fake(world, "input"),
    }
    exec(_compiled(source, filename), namespace)
    return namespace


# -- running a function as its framework would, and comparing per-iteration fixes ---------------


def dependencies(func: Any, exits: list[Any], drive: Callable[[Any], Any]) -> dict[str, Any]:
    """FastAPI's yield dependencies, as FastAPI >= 0.118 runs them: a parameter whose default (or
    `Annotated` metadata) is a generator function (`Depends(get_db)` on the fakes leaves `get_db`
    itself) gets what it yields; its exit code runs after the response, streams included
    (`exits`, for `finish_dependencies`)."""
    given: dict[str, Any] = {}
    try:
        signature = inspect.signature(func, eval_str=True)
    except Exception:  # an annotation the fakes cannot evaluate
        signature = inspect.signature(func)
    for param in signature.parameters.values():
        provider = param.default
        for extra in getattr(param.annotation, "__metadata__", ()):  # Annotated[T, Depends(p)]
            if inspect.isgeneratorfunction(extra) or inspect.isasyncgenfunction(extra):
                provider = extra
        if inspect.isgeneratorfunction(provider):
            dependency = provider()
            exits.append(dependency)
            given[param.name] = next(dependency)
        elif inspect.isasyncgenfunction(provider):
            dependency = provider()
            exits.append(dependency)
            given[param.name] = drive(_first(dependency))
    return given


async def _first(generator: Any) -> Any:
    return await generator.__anext__()


def finish_dependencies(exits: list[Any], drive: Callable[[Any], Any]) -> None:
    """Run the exit code of the dependencies `dependencies` entered, last first."""
    for dependency in reversed(exits):
        with contextlib.suppress(Exception, UseAfterRelease, Exhausted):
            if inspect.isasyncgen(dependency):
                drive(dependency.aclose())
            elif inspect.isgenerator(dependency):
                dependency.close()


ACQUIRED = "acquired by "
RESOURCE_LABEL = re.compile(r"^([\w-]+)#\d+")


def acquisitions(events: list[tuple[str, str]]) -> int:
    """How many resources were acquired in `events`."""
    return sum(what.startswith(ACQUIRED) for _, what in events)


def sources(events: list[tuple[str, str]]) -> set[str]:
    """What the resources in `events` were acquired by (`app.database.SessionLocal()`)."""
    return {what.removeprefix(ACQUIRED) for _, what in events if what.startswith(ACQUIRED)}


def per_iteration_events(events: list[tuple[str, str]], sources: set[str]) -> list[tuple[str, str]]:
    """The events without the acquisitions (and the calls that made them), each resource named
    by its kind only (`closes#12:query` -> `closes:query`)."""
    out = []
    for label, what in events:
        if what.startswith(ACQUIRED) or f"{label}()" in sources:
            continue
        out.append((RESOURCE_LABEL.sub(r"\1", label), what))
    return out


def failed_call(events: list[tuple[str, str]]) -> tuple[int, str, str] | None:
    """The call the injected failure hit, if any, with its position among the events."""
    return next(
        ((i, label, what) for i, (label, what) in enumerate(events) if what.endswith(" fails")),
        None,
    )
