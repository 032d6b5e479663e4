"""The plain records the analysis stages share, at the bottom of the import order.

Bindings, sites and scopes come out of the first pass (`collect.py`); what a module offers others
(`Export`, with a function's `ParamEffects` and a helper's `Manager`) travels in module summaries;
a `Verdict` is what judging says of one acquisition. They hold data and answer no question that
needs the module's facts, so every stage can import them without importing another stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import libcst as cst

from leakcheck.config.catalogue import Kind
from leakcheck.model import TextEnum

Scope = cst.FunctionDef | cst.Module


class Origin(TextEnum):
    """How an acquisition's result is kept (`Binding.how`): where the resource comes from, for the
    scope that judges it."""

    ASSIGN = "assign"  # `conn = pool.getconn()`
    WITH = "with"  # `with engine.connect() as conn:`
    DISCARDED = "discarded"  # `pool.getconn()`: the result is dropped
    TUPLE = "tuple"  # `conn, cur = open_pair()`: one element of a factory's tuple
    COLLECTION = "collection"  # `[eng.connect() for ...]`, `conns.append(pool.getconn())`
    LOST = "lost"  # `pool.getconn().cursor()`: only a chained call's result is kept
    PASSED = "passed"  # `rebuild_index(SessionLocal())`: passed straight to a borrower
    PARAM = "param"  # a session the function is given (`db = Depends(get_db)`)
    ATTRIBUTE = "attribute"  # `self.conn = pool.getconn()` in `__enter__` (cmclass.py)
    STORED = "stored"  # `g.db = connect()`, `context["db"] = ...` (contexts.py)


class Escape(TextEnum):
    """How a verdict says a resource escapes (`Verdict.leak`); rules map each, per kind family,
    to a code (`leakcheck/checks/`: each rule module's `leak`)."""

    NEVER = "never"  # no path gives it back or hands it off
    EXCEPTION = "exception"  # an exception between acquire and release skips the release
    EARLY_EXIT = "early-exit"  # a return/break/continue/raise or a branch leaves it held
    FINALLY_ORDER = "finally-order"  # released in `finally` after a statement that may raise
    YIELD = "yield"  # released after a `yield`, outside `finally`
    OVERWRITTEN = "overwritten"  # its last name is reassigned or deleted while held
    LOOP = "loop"  # the next iteration acquires again while the previous one is held
    HELD_ACROSS_AWAIT = "held-across-await"  # kept open across a wait on the outside world
    CAPTURED_BY_STREAM = "captured-by-stream"  # used by a streaming generator (streams.py)
    HANDED_TO_TASK = "handed-to-task"  # a request's session given to work that runs later
    PINNED_BY_STREAM = "pinned-by-stream"  # a dependency's session pinned while a response streams
    UNENTERED = "unentered"  # a context manager used without `with` (unentered.py)


# What a function does to a resource passed to one of its parameters (see `ownership.py`).
BORROW = "borrow"
UNKNOWN = "unknown"
TAKE = "take"
STREAM = "stream"
RELEASE = "release"


@dataclass(frozen=True)
class ParamEffects:
    """A callable's parameters (self/cls left out) and what it does to each; plain data.

    `names` in order (positional first, then keyword-only); `effects` beside them. `rest` is the
    effect for arguments matching no name (a class without `__init__`: a dataclass stores them).
    """

    names: tuple[str, ...]
    effects: tuple[str, ...]
    asynchronous: bool = False
    rest: str = UNKNOWN
    positional: int = -1  # how many of `names` may be passed by position (-1: all)

    def for_argument(self, call: cst.Call, arg: cst.Arg) -> str:
        """The effect on the parameter that `arg` of `call` binds."""
        if arg.star:
            return UNKNOWN
        if arg.keyword is not None:
            name = arg.keyword.value
            return self.effects[self.names.index(name)] if name in self.names else self.rest
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in positional):
            return UNKNOWN
        index = next(i for i, a in enumerate(positional) if a is arg)
        limit = len(self.names) if self.positional < 0 else self.positional
        return self.effects[index] if index < limit else self.rest


@dataclass(frozen=True)
class Manager:
    """An obvious context-manager helper (see `managers.py`): what it acquires, from where, and
    what else it does.

    `source`: the pool, engine or session factory it acquires from, qualified when the helper's
    module imports it (`app.db.pool`), else the name in the helper's module (`pool`), with
    `local` true. `extra`: "" when the helper only acquires, yields and gives back; otherwise what
    else it does ("commits", "rolls back on error", "runs other statements").
    """

    kind: str
    source: str
    local: bool
    asynchronous: bool
    extra: str = ""
    arguments: str = ""  # of its acquiring call, as `managers.arguments()` writes them


@dataclass(frozen=True)
class Export:
    """What a module offers other modules about one of its names.

    role: "source" (a pool, session factory or engine), "factory" (a function returning a fresh
    resource; with `slot`, inside the tuple it returns), "releaser" (a function releasing its
    argument number `index`), "context-manager" (a function meant for `with` that wraps an
    acquisition), "provider" (a generator yielding a fresh resource), "source-factory" (a function
    returning a new source: `def init_session_class(): return sessionmaker(bind=engine)`),
    "function" (none of these), "helper" (a plain function whose body cannot raise) or "object"
    (a module-level instance of one of the module's classes, for its `quiet_methods`).
    `params`: what the function (or a class's `__init__`) does to each parameter, for callers that
    pass it a resource (see ownership.py). `quiet`: its body cannot raise (see raising.py).
    Plain data: picklable, no syntax nodes.
    """

    role: str
    kind: Kind | None = None
    index: int = 0
    params: ParamEffects | None = None
    slot: int | None = None
    quiet: bool = False  # its body cannot raise (see `analysis/raising.py`)
    # A class, or a module-level instance of a class of the module ("object"): its methods whose
    # bodies cannot raise (`Tracker.untrack`), for callers of `tracker.untrack(...)`.
    quiet_methods: tuple[str, ...] = ()
    # "context-manager": its obvious shape (`analysis/managers.py`), for fixes that use it;
    # "source": the module's obvious helpers that acquire from it (`pooled` for `pool`).
    manager: Manager | None = None
    managers: tuple[str, ...] = ()
    # "source", "source-factory": whether what it hands out is used with `async with`
    # (`async_sessionmaker`, `create_async_engine`), None when the module does not say; a fix's
    # `with` form needs it. "provider": the same for the resource it yields.
    asynchronous: bool | None = None
    # "releaser": its body only releases, closes or logs (no commit): a fix may drop or move a
    # call of it like the kind's own release (see `fix/helper_releases.py`).
    pure: bool = False
    # "provider": the source its one acquisition calls without arguments, for a fix that opens
    # the same resource elsewhere: `.SessionLocal` (a name of the provider's module) or the
    # qualified name it imports (`app.database.SessionLocal`); "" when not that simple.
    acquires: str = ""
    # "provider": dropping the generator after its first `next` keeps the resource open (its
    # release is not in `finally` or a closing `with`): `next(get_db())` acquires (roles.py).
    held_when_dropped: bool = False
    # A class, or a module-level instance of one ("object"): its methods that return a fresh
    # resource, with its kind (`Repo.sessions`), for `self.repo.sessions()` in another module
    # (collaborators.py).
    method_factories: tuple[tuple[str, Kind], ...] = ()
    # A function that calls its parameter number `calls_argument` and returns the result
    # (`def retry(fn): return fn()`), or returns a callable that calls its parameter number
    # `wraps_argument` (`with_backoff(fn)`); -1 when not (callables.py).
    calls_argument: int = -1
    wraps_argument: int = -1


class Resolver(Protocol):
    """Answers for names imported from other modules of the project (see `project.py`)."""

    def lookup(self, qualified: str) -> Export | None: ...

    def lookup_callee(self, qualified: str) -> Export | None:
        """As `lookup`, for a function the module passes a resource to: a module that defines
        nothing the prefilter's words name (a helper with no database word) is summarised all
        the same, so that what it does with its parameters is known."""
        ...


@dataclass
class Binding:
    """How an acquiring call's result is kept: `name = call`, `with call as name`, or dropped."""

    how: Origin
    name: str | None
    names: tuple[str | None, ...] = ()  # `Origin.TUPLE`: the names unpacked, in order


@dataclass(frozen=True)
class Site:
    """An acquisition that leakcheck follows through its scope."""

    call: cst.Call
    kind: Kind
    scope: Scope
    class_name: str | None
    binding: Binding  # how its result is kept (`Origin`: a name, a parameter, a tuple slot...)
    anchor: cst.CSTNode | None = None  # where to report, when not at `call` (a parameter)


@dataclass
class FunctionInfo:
    """A scope: a function, or the module's own statements (key `<module>`)."""

    node: cst.FunctionDef | cst.Module
    class_name: str | None
    key: str  # "name" for module functions, "Class.name" for methods
    params: tuple[str, ...]
    calls: list[cst.Call] = field(default_factory=list)
    returns: list[cst.BaseExpression] = field(default_factory=list)
    assigned: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    is_context_manager: bool = False
    attribute_uses: dict[str, list[cst.Attribute]] = field(default_factory=dict)  # `name.attr`
    param_nodes: tuple[cst.Param, ...] = ()
    stored: set[str] = field(default_factory=set)  # names stored on an object: `self.c = conn`
    yields: bool = False  # a generator
    entered: set[str] = field(default_factory=set)  # names used as `with` items or handed on


# A piece of explanation: text with an optional `{line}` filled from the node's position.
Part = tuple[str, cst.CSTNode | None]


@dataclass(frozen=True)
class Verdict:
    """How one acquisition escapes (`leak`, see `verdicts.py`), and the words that explain it."""

    site: Site
    leak: Escape
    node: cst.CSTNode | None  # the statement through which the resource escapes
    how: tuple[Part, ...]
    label: str = "escapes here"  # what the code frame says at `node`
    what: str = ""  # the subject of the message, when it is not "<resource> from `<call>`"
    anchor: cst.CSTNode | None = None  # where the finding points, when not the acquiring call

    def nodes(self) -> list[cst.CSTNode]:
        """The nodes a finding shows: where it points, the explanation's lines, the escape."""
        found: list[cst.CSTNode] = [self.anchor or self.site.call]
        found += [node for _, node in self.how if node is not None]
        if self.node is not None:
            found.append(self.node)
        return found
