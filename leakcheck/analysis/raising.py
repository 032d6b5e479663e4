"""The raise model: which calls and stores can realistically raise while a resource is held.

Everything not listed here may raise (an unknown call, an `await`, a subscript read, anything on a
pooled connection, anything on a connection after it has done I/O). What cannot, in practice:

- configuring a connection that was just opened directly and has done no I/O since
  (`conn.cursor()`, `conn.thread_id()`, `conn.row_factory = ...`, `conn.autocommit = True` right
  after `sqlite3.connect()` / `psycopg2.connect()`): psycopg2 and sqlite3 raise there only for a
  connection that is closed or inside a transaction, and a fresh one is neither (psycopg2 docs,
  "connection.autocommit"; sqlite3 docs, "Connection.cursor");
- logging calls (`logger.info(...)`, `logging.warning(...)`, `print(...)`): the logging module
  reports handler errors instead of raising them (logging docs, "Handler.handleError");
- a few pure builtins and clocks (`len`, `isinstance`, `time.monotonic()`), `contextlib` wrappers,
  string work on paths (`os.path.join`, `basename`, `dirname`, `splitext`, `normpath`);
- dict/list/set operations on a container built in the function, at module level, or on `self`
  by the class's methods (`rows.append(x)`, `seen.add(k)`, `out[k] = v`, `self._active.discard(s)`,
  `self._by_id.pop(k, None)`: `pop` with a default cannot raise `KeyError`, Python docs,
  "Mapping Types"); reads by key (`d[k]`, `d.pop(k)`) may raise and are not exempt;
- `cur.close()` on a DB-API cursor from `X.cursor()` without a name or a cursor class: a
  client-side cursor closes without I/O (psycopg2 docs, "cursor.close"; psycopg docs, "Cursor
  classes": only a server-side cursor, `cursor(name)`, talks to the server on close; sqlite3
  docs, "Cursor.close"), except when the module imports a driver listed in `cursor-close-reads`
  (rules/ownership.toml: mysql-connector's unbuffered cursor raises "Unread result found");
- `ContextVar.set/get/reset` on a module-level `ContextVar`;
- a helper of the module (or, through `Export.quiet`, of the project) whose body does only such
  things (`quiet` functions), and such a method of a class (`Tracker.untrack`), called on an
  instance whose class is known: `self.tracker = Tracker()` in the class, `t = Tracker()`, or a
  module-level instance, also of a class or instance of another module of the project
  (`Export.quiet_methods`).

Assignments of names and constants, arithmetic and comparisons are never counted as raising.
"""

from __future__ import annotations

import weakref

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.config.catalogue import Kind
from leakcheck.config.ownership import ownership

# Constructors that cannot fail in practice.
NON_RAISING = frozenset(
    {
        "contextlib.closing",
        "contextlib.aclosing",
        "contextlib.suppress",
        "contextlib.nullcontext",
        "contextlib.ExitStack",
        "contextlib.AsyncExitStack",
        "logging.getLogger",
        "time.time",
        "time.monotonic",
        "time.perf_counter",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.now",
        "datetime.utcnow",
        # String work on paths: no file system access (`os.path` docs); they raise only for
        # arguments of the wrong type.
        "os.path.join",
        "os.path.basename",
        "os.path.dirname",
        "os.path.splitext",
        "os.path.normpath",
        "os.getpid",
        # A new container, like `list()` and `dict()` (pgAdmin's `deque([], maxlen)` notices).
        "collections.deque",
    }
)
CONTAINER_CALLS = frozenset({"dict", "list", "set"})
PURE_BUILTINS = frozenset(
    {
        "len",
        "str",
        "repr",
        "isinstance",
        "issubclass",
        "id",
        "type",
        "bool",
        "callable",
        "print",
        "hasattr",
        # the current scope's names, as a dict: `'con' in locals()` guards a close in scripts
        "locals",
        "globals",
    }
    | CONTAINER_CALLS
)
# `max(a, b)`, `min(a, b, c)`: comparisons of their arguments, which never count (see
# docs/semantics.md); with one argument they read an iterable and raise when it is empty.
COMPARING_BUILTINS = frozenset({"max", "min"})
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
# Methods of a local list/dict/set that cannot raise (`pop`, `remove`, `index` can).
CONTAINER_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "get",
        "items",
        "keys",
        "values",
        "copy",
        "discard",
        "clear",
    }
)
# On a connection opened directly and not used since: configuration, no I/O. psycopg 3 applies
# the transaction characteristics at the next transaction, keeps the factories and prepare
# settings as plain attributes, and only registers notice and notification callbacks (psycopg
# docs, "The Connection class"; psycopg2 docs, `connection.notices`).
FRESH_METHODS = frozenset({"cursor", "thread_id", "add_notice_handler", "add_notify_handler"})
FRESH_ATTRIBUTES = frozenset(
    {
        "row_factory",
        "text_factory",
        "autocommit",
        "isolation_level",
        "readonly",
        "read_only",
        "deferrable",
        "cursor_factory",
        "server_cursor_factory",
        "prepare_threshold",
        "prepared_max",
        # psycopg2 documents replacing these lists (by a `deque` with a maximum length).
        "notices",
        "notifies",
    }
)
# Container constructors, by qualified name (Python docs, `collections`, `weakref`).
CONTAINER_CONSTRUCTORS = frozenset(
    {
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
        "weakref.WeakSet",
        "weakref.WeakValueDictionary",
        "weakref.WeakKeyDictionary",
    }
)
# `X.cursor(...)` keywords that make a server-side cursor, whose close talks to the server
# (psycopg2 `cursor(name=..., withhold=..., scrollable=...)`, psycopg `cursor(name, ...)`).
SERVER_CURSOR_KEYWORDS = frozenset({"name", "withhold", "scrollable"})
CONTEXT_VAR_METHODS = frozenset({"get", "set", "reset"})
QUIET_DECORATORS = frozenset({"classmethod", "staticmethod"})


def starts_fresh(kind: Kind) -> bool:
    """Is a just-acquired resource of `kind` a direct connection that has done no I/O yet?

    Pool connections never are: a pool may hand out a connection the server already closed.
    """
    return kind.direct


def is_logger(receiver: str) -> bool:
    """`logger`, `self.logger`, `log`, `LOGGER`, `logging`, `app.logger`, `_log`."""
    last = receiver.rsplit(".", 1)[-1].lower().lstrip("_")
    return last in ("log", "logging") or last.endswith("logger")


def local_containers(info: FunctionInfo) -> frozenset[str]:
    """Names the scope binds only to a new list, dict or set (`rows = []`, `seen = set()`)."""
    found = set()
    for name, values in info.assigned.items():
        if values and all(_is_container(v) for v in values):
            found.add(name)
    return frozenset(found)


def _is_container(value: cst.BaseExpression, facts: CollectedFacts | None = None) -> bool:
    if isinstance(value, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)):
        return True
    if not isinstance(value, cst.Call):
        return False
    if isinstance(value.func, cst.Name) and value.func.value in CONTAINER_CALLS:
        return True
    return facts is not None and facts.qualify(value.func) in CONTAINER_CONSTRUCTORS


def _container_receiver(
    facts: CollectedFacts, info: FunctionInfo | None, receiver: cst.BaseExpression
) -> bool:
    """Is `receiver` a container: a local one, a module-level name bound only to containers
    (and not bound in the function), or `self.X` that the class's methods bind only to them?"""
    if isinstance(receiver, cst.Name):
        name = receiver.value
        if info is not None and name in local_containers(info):
            return True
        if info is not None and info is not facts.module_info and name in info.assigned:
            return False
        values = facts.module_info.assigned.get(name, [])
        return bool(values) and all(_is_container(v, facts) for v in values)
    if (
        isinstance(receiver, cst.Attribute)
        and dotted(receiver.value) == "self"
        and info is not None
        and info.class_name is not None
    ):
        values = self_attributes(facts, info.class_name).get(receiver.attr.value, [])
        return bool(values) and all(_is_container(v, facts) for v in values)
    return False


def _container_call(
    facts: CollectedFacts, info: FunctionInfo | None, call: cst.Call, func: cst.Attribute
) -> bool:
    """A container operation that cannot raise: `CONTAINER_METHODS`, or `pop(k, default)`."""
    method = func.attr.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if method not in CONTAINER_METHODS and not (
        method == "pop" and len(positional) == 2 and len(call.args) == 2
    ):
        return False
    return _container_receiver(facts, info, func.value)


def self_attributes(facts: CollectedFacts, class_name: str) -> dict[str, list[cst.BaseExpression]]:
    """`self.X = value` in the methods of `class_name`: X -> every value bound to it."""
    per_module = _SELF_ATTRIBUTES.setdefault(facts, {})
    found = per_module.get(class_name)
    if found is not None:
        return found
    found = {}
    for info in facts.functions.values():
        if info.class_name != class_name:
            continue
        for node in walk(info.node):
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                targets = (
                    [t.target for t in node.targets]
                    if isinstance(node, cst.Assign)
                    else [node.target]
                )
                for target in targets:
                    if isinstance(target, cst.Attribute) and dotted(target.value) == "self":
                        found.setdefault(target.attr.value, []).append(node.value)
            elif (
                isinstance(node, cst.AugAssign)
                and isinstance(node.target, cst.Attribute)
                and dotted(node.target.value) == "self"
            ):
                found.setdefault(node.target.attr.value, []).append(node.value)
    per_module[class_name] = found
    return found


def _client_cursor(
    facts: CollectedFacts, info: FunctionInfo | None, name: str, call: cst.Call
) -> bool:
    """Is `name` bound in the scope only to client-side DB-API cursors (`conn.cursor()`,
    `conn.cursor(cursor_factory=RealDictCursor)`; not `cursor("name")`, `cursor(name=...)`, a
    cursor class such as pymysql's `SSCursor`, nor any cursor of a driver whose `close()` reads
    (`cursor-close-reads` in rules/ownership.toml))?"""
    if info is None:
        return False
    values = info.assigned.get(name)
    reads = ownership().cursor_close_reads
    if not values or any(q.split(".", 1)[0] in reads for q in facts.imports.values()):
        return False
    for value in values:
        if not (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "cursor"
            and all(
                a.keyword is not None
                and not a.star
                and a.keyword.value not in SERVER_CURSOR_KEYWORDS
                for a in value.args
            )
        ):
            return False
    return not _maybe_unbound(info, values, call)


def _maybe_unbound(info: FunctionInfo, values: list[cst.BaseExpression], call: cst.Call) -> bool:
    """Is `call` in a handler or `finally` of a `try` whose body binds the name (`values`)? An
    error before the binding reaches it with the name unbound: `cur.close()` raises
    `UnboundLocalError` (fitness-bot's `legacy_cursor`)."""
    bound = {id(v) for v in values}
    for node in walk(info.node):
        if not isinstance(node, (cst.Try, cst.TryStar)):
            continue
        after = [*node.handlers, *([node.finalbody] if node.finalbody is not None else [])]
        if any(call is n for part in after for n in walk(part)) and any(
            id(n) in bound for n in walk(node.body)
        ):
            return True
    return False


def call_may_raise(
    call: cst.Call,
    facts: CollectedFacts,
    info: FunctionInfo | None,
    fresh: frozenset[str] = frozenset(),
) -> bool:
    """Can `call` itself raise (its arguments are judged separately)?

    `info`: the scope the call is in (for its local containers and `self.helper()` calls);
    `fresh`: names of a directly opened connection that has done no I/O yet.
    """
    func = call.func
    qualified = facts.qualify(func)
    if qualified in NON_RAISING:
        return False
    if isinstance(func, cst.Name):
        if func.value in PURE_BUILTINS and func.value not in facts.imports:
            return False
        if func.value in COMPARING_BUILTINS and func.value not in facts.imports:
            positional = [a for a in call.args if a.keyword is None]
            if len(positional) >= 2 and not any(a.star for a in positional):
                return False
        return not (quiet(facts, func.value) or _imported_quiet(facts, func.value))
    if not isinstance(func, cst.Attribute):
        return True
    method = func.attr.value
    receiver = dotted(func.value)
    if receiver is None:
        return True
    if method in LOG_METHODS and is_logger(receiver):
        return False
    if method == "is_closed" and not call.args:
        return False  # peewee's `db.is_closed()` reads the thread's connection state (peewee.py)
    if isinstance(func.value, cst.Name):
        name = func.value.value
        if name in fresh and method in FRESH_METHODS:
            return False
        if method in CONTEXT_VAR_METHODS and name in context_vars(facts):
            return False
        if method == "close" and not call.args and _client_cursor(facts, info, name, call):
            return False  # a client-side cursor closes without I/O
    if _container_call(facts, info, call, func):
        return False
    class_name = info.class_name if info is not None else None
    if receiver in ("self", "cls") and class_name is not None:
        return not quiet(facts, f"{class_name}.{method}")
    if quiet(facts, f"{receiver}.{method}"):  # `Tracker.untrack(...)`, a class of the module
        return False
    if _imported_quiet(facts, f"{receiver}.{method}"):
        return False
    return not _instance_quiet(facts, info, func.value, method)


def _instance_quiet(
    facts: CollectedFacts, info: FunctionInfo | None, receiver: cst.BaseExpression, method: str
) -> bool:
    """`self.tracker.untrack(s)`, `tracker.untrack(s)`: is `method` quiet for the receiver's
    class, known from what binds it (`self.tracker = Tracker()` in the class, `t = Tracker()` in
    the scope or at module level), or from an imported instance's export?"""
    values: list[cst.BaseExpression] | None = None
    if isinstance(receiver, cst.Name):
        name = receiver.value
        if info is not None and name in info.assigned:
            values = info.assigned[name]
        elif name in facts.module_info.assigned:
            values = facts.module_info.assigned[name]
        elif name in facts.imports:
            export = facts.imported(name)  # a module-level instance of another module
            return export is not None and method in export.quiet_methods
    elif (
        isinstance(receiver, cst.Attribute)
        and dotted(receiver.value) == "self"
        and info is not None
        and info.class_name is not None
    ):
        values = self_attributes(facts, info.class_name).get(receiver.attr.value)
    if not values:
        return False
    classes = {dotted(v.func) if isinstance(v, cst.Call) else None for v in values}
    if len(classes) != 1:
        return False
    (made,) = classes
    if made is None:
        return False
    if made in facts.classes and made not in facts.imports:
        return quiet(facts, f"{made}.{method}")
    export = facts.imported(made)
    return export is not None and method in export.quiet_methods


def _imported_quiet(facts: CollectedFacts, text: str) -> bool:
    export = facts.imported(text)
    return export is not None and export.quiet


def context_vars(facts: CollectedFacts) -> frozenset[str]:
    """Module-level names bound to `contextvars.ContextVar(...)`."""
    cached = _CONTEXT_VARS.get(facts)
    if cached is not None:
        return cached
    names = frozenset(
        name
        for name, values in facts.module_info.assigned.items()
        if any(
            isinstance(v, cst.Call) and facts.qualify(v.func).rsplit(".", 1)[-1] == "ContextVar"
            for v in values
        )
    )
    _CONTEXT_VARS[facts] = names
    return names


def store_may_raise(
    target: cst.BaseExpression, info: FunctionInfo | None, facts: CollectedFacts | None = None
) -> bool:
    """Can storing into `target` raise? `out[k] = v` into a local container cannot; with
    `facts`, nor into a module-level one or one the class keeps on `self` (`self._by_id[k] = v`)."""
    if isinstance(target, cst.Subscript):
        base = target.value
        if info is not None and isinstance(base, cst.Name) and base.value in local_containers(info):
            return False
        return facts is None or not _container_receiver(facts, info, base)
    return False


# -- quiet helpers ------------------------------------------------------------------------------

# Per module, computed once. Weakly keyed: an entry goes with the module's facts (and so with the
# module's tree), so a worker's memory does not grow with the files it has analysed.
_QUIET: weakref.WeakKeyDictionary[CollectedFacts, frozenset[str]] = weakref.WeakKeyDictionary()
_CONTEXT_VARS: weakref.WeakKeyDictionary[CollectedFacts, frozenset[str]] = (
    weakref.WeakKeyDictionary()
)
_SELF_ATTRIBUTES: weakref.WeakKeyDictionary[
    CollectedFacts, dict[str, dict[str, list[cst.BaseExpression]]]
] = weakref.WeakKeyDictionary()


def quiet(facts: CollectedFacts, key: str) -> bool:
    """Is `key` (`helper`, `Class.method`) a function of the module that cannot raise?"""
    return key in quiet_functions(facts)


def quiet_functions(facts: CollectedFacts) -> frozenset[str]:
    """Keys of the module's functions whose bodies cannot raise under this model.

    Computed once per module, as a fixpoint: a helper calling only quiet helpers is quiet.
    """
    cached = _QUIET.get(facts)
    if cached is not None:
        return cached
    _QUIET[facts] = frozenset()  # while computing: nothing is quiet yet
    found: set[str] = set()
    candidates = [i for i in facts.functions.values() if _may_be_quiet(i)]
    grew = True
    while grew:
        grew = False
        for info in candidates:
            if info.key not in found and _body_quiet(info, facts):
                found.add(info.key)
                grew = True
                _QUIET[facts] = frozenset(found)
    result = frozenset(found)
    _QUIET[facts] = result
    return result


def _may_be_quiet(info: FunctionInfo) -> bool:
    node = info.node
    if not isinstance(node, cst.FunctionDef) or node.asynchronous is not None or info.yields:
        return False
    return all((dotted(d.decorator) or "") in QUIET_DECORATORS for d in node.decorators)


def _body_quiet(info: FunctionInfo, facts: CollectedFacts) -> bool:
    node = info.node
    assert isinstance(node, cst.FunctionDef)
    stores: set[int] = set()
    for sub in walk(node.body):
        kind = type(sub)  # exact types: see `syntax.SCOPE_TYPES`
        if kind in _NOT_QUIET:
            return False
        if kind is cst.Assign or kind is cst.AugAssign or kind is cst.AnnAssign:
            assert isinstance(sub, (cst.Assign, cst.AugAssign, cst.AnnAssign))
            targets = (
                [t.target for t in sub.targets] if isinstance(sub, cst.Assign) else [sub.target]
            )
            for target in targets:
                if store_may_raise(target, info, facts):
                    return False
                if type(target) is cst.Subscript:
                    stores.add(id(target))
        if (kind is cst.Subscript and id(sub) not in stores) or (
            kind is cst.Call and call_may_raise(sub, facts, info)  # type: ignore[arg-type]
        ):
            return False
    return True


# Statements and expressions a quiet function has none of (`await`, `yield`, `raise`, ...; and,
# to keep the model small, loops, `try` and `match`: straight-line code and `if` only).
_NOT_QUIET = frozenset(
    {cst.Await, cst.Yield, cst.Raise, cst.Assert, cst.With, cst.Del}
    | {cst.For, cst.While, cst.Try, cst.TryStar, cst.Match}
)
