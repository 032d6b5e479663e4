"""Code that runs outside any request: a function put on a thread, a timer, a scheduler or the
event loop (`threading.Thread(target=f)`, `executor.submit(f)`, `loop.call_soon(f)`,
`IOLoop.add_callback(f)`, APScheduler's `add_job(f)` and `@scheduler.scheduled_job`) that uses a
module-level `scoped_session` registry must end its session itself: the framework integration
(Flask-SQLAlchemy, a teardown calling `Session.remove()`) ends it only for requests.

The entry points are data (`rules/lifecycles.toml`, `Lifecycles`); a registry is a module-level
binding of an acquisition whose kind is a registry (`registry = true` in the kind catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.contexts import calls_in, functions
from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.syntax import call_text, dotted, source_of, unwrap_value, walk
from leakcheck.checks import scoped_session_outside_request_without_remove
from leakcheck.config.catalogue import Kind
from leakcheck.config.lifecycles import EntryPoint, Lifecycles

_PARTIALS = frozenset({"functools.partial", "partial"})


@dataclass(frozen=True)
class Started:
    """A function run outside any request and the call or decorator that puts it there."""

    function: cst.FunctionDef
    start: cst.CSTNode


def registries(facts: ModuleFacts) -> dict[str, Kind]:
    """Module-level names bound to a registry (`Session = scoped_session(sessionmaker())`)."""
    found = {}
    for stmt in facts.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign):
                continue
            value = unwrap_value(small.value)
            if not isinstance(value, cst.Call):
                continue
            kind = facts.acquisition(value, None)
            if kind is None or not kind.registry:
                continue
            for target in small.targets:
                if isinstance(target.target, cst.Name):
                    found[target.target.value] = kind
    return found


def _argument(call: cst.Call, entry: EntryPoint) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == entry.keyword:
            return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[entry.position].value if len(positional) > entry.position else None


def executors(facts: ModuleFacts, data: Lifecycles) -> set[str]:
    """Names the module binds to an executor (`pool = ThreadPoolExecutor()`, `with
    ThreadPoolExecutor() as pool`), whatever they are called."""
    found: set[str] = set()
    for node in walk(facts.module, into_scopes=True):
        if isinstance(node, cst.Assign):
            value, targets = node.value, [t.target for t in node.targets]
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            value, targets = node.item, [node.asname.name]
        else:
            continue
        if isinstance(value, cst.Call) and facts.qualify(value.func) in data.executors:
            found.update(text for t in targets if (text := dotted(t)))
    return found


def _entry(
    facts: ModuleFacts, call: cst.Call, data: Lifecycles, bound: set[str]
) -> EntryPoint | None:
    entry = data.callables.get(facts.qualify(call.func))
    if entry is not None:
        return entry
    if isinstance(call.func, cst.Attribute):
        receiver = dotted(call.func.value) or ""
        for candidate in data.methods.get(call.func.attr.value, ()):
            if candidate.accepts(receiver) or (bool(candidate.receiver) and receiver in bound):
                return candidate
    return None


def started(facts: ModuleFacts, data: Lifecycles) -> list[Started]:
    """Every module function the module runs outside a request, with what starts it."""
    index = functions(facts.module)
    bound = executors(facts, data)
    out = []
    for node in walk(facts.module, into_scopes=True):
        if isinstance(node, cst.FunctionDef):
            for decorator in node.decorators:
                expr = decorator.decorator
                func = expr.func if isinstance(expr, cst.Call) else expr
                if isinstance(func, cst.Attribute) and func.attr.value in data.decorators:
                    out.append(Started(node, decorator))
            continue
        if not isinstance(node, cst.Call):
            continue
        entry = _entry(facts, node, data, bound)
        target = _argument(node, entry) if entry is not None else None
        if isinstance(target, cst.Call) and facts.qualify(target.func) in _PARTIALS:
            target = target.args[0].value if target.args else None
        name = None
        if isinstance(target, cst.Name):
            name = target.value
        elif isinstance(target, cst.Attribute) and dotted(target.value) in ("self", "cls"):
            name = target.attr.value
        for function in index.get(name or "", ())[:1]:
            out.append(Started(function, node))
    return out


def _uses(function: cst.FunctionDef, names: dict[str, Kind]) -> cst.CSTNode | None:
    """The first use of a registry in `function`'s body (`Session.query(...)`, `Session()`);
    `with Session() as s:` is not one (leaving the block closes the session)."""
    managed = {
        id(unwrap_value(item.item))
        for node in walk(function.body)
        if isinstance(node, cst.With)
        for item in node.items
    }
    for node in walk(function.body):
        if isinstance(node, cst.Attribute) and _named(node.value, names):
            return node
        if isinstance(node, cst.Call) and _named(node.func, names) and id(node) not in managed:
            return node
    return None


def _named(expr: cst.BaseExpression, names: dict[str, Kind]) -> bool:
    return isinstance(expr, cst.Name) and expr.value in names


def _ends(call: cst.Call, names: dict[str, Kind], taken: dict[str, str] | None = None) -> bool:
    """`Session.remove()`, `Session.close()`, `Session().close()` on a registry, or `s.close()`
    on a name in `taken` (`s = Session()`: the registry's session)."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, cst.Call) and not receiver.args:
        receiver = receiver.func
    if not isinstance(receiver, cst.Name):
        return False
    registry = (taken or {}).get(receiver.value, receiver.value)
    if registry not in names:
        return False
    return func.attr.value in names[registry].self_release_methods


def _taken(function: cst.FunctionDef, names: dict[str, Kind]) -> dict[str, str]:
    """Names `function` binds to its registry's session (`s = Session()`) -> the registry."""
    out = {}
    for node in walk(function.body):
        if isinstance(node, cst.Assign):
            value = unwrap_value(node.value)
            if isinstance(value, cst.Call) and not value.args and _named(value.func, names):
                registry = value.func.value if isinstance(value.func, cst.Name) else ""
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        out[target.target.value] = registry
    return out


def _ended_in_finally(
    function: cst.FunctionDef,
    names: dict[str, Kind],
    index: dict[str, list[cst.FunctionDef]],
) -> bool:
    """Does a `finally` of `function` end the registry's session (itself, a session taken from
    it, `s = Session()` ... `s.close()`, or by calling a module function that does)?"""
    taken = _taken(function, names)
    for node in walk(function.body):
        if not isinstance(node, cst.Try) or node.finalbody is None:
            continue
        for call in (n for n in walk(node.finalbody) if isinstance(n, cst.Call)):
            if _ends(call, names, taken):
                return True
            if isinstance(call.func, cst.Name):
                for helper in index.get(call.func.value, ()):
                    if any(_ends(c, names) for c in calls_in(helper)):
                        return True
    return False


def _decorated_ending(
    function: cst.FunctionDef,
    names: dict[str, Kind],
    index: dict[str, list[cst.FunctionDef]],
) -> bool:
    """Does a decorator of `function`, a module function, end the registry's session in a
    `finally` of its wrapper (`@with_session` whose `wrapper` calls `Session.remove()`)?"""
    for decorator in function.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if not isinstance(expr, cst.Name):
            continue
        for wrapper in index.get(expr.value, ()):
            inner = [n for n in walk(wrapper, into_scopes=True) if isinstance(n, cst.FunctionDef)]
            if any(_ended_in_finally(f, names, index) for f in inner):
                return True
    return False


def _reached(
    function: cst.FunctionDef, index: dict[str, list[cst.FunctionDef]]
) -> list[cst.FunctionDef]:
    """`function` and the module functions it calls by name, transitively."""
    out: list[cst.FunctionDef] = []
    todo = [function]
    while todo:
        current = todo.pop()
        if any(current is f for f in out):
            continue
        out.append(current)
        for call in calls_in(current):
            if isinstance(call.func, cst.Name):
                todo.extend(index.get(call.func.value, ())[:1])
    return out


def outside_drafts(facts: ModuleFacts, data: Lifecycles) -> list[Draft]:
    """`scoped-session-outside-request-without-remove` at the first registry use of each
    function run outside a request that does not end the session in `finally`."""
    names = registries(facts)
    if not names:
        return []
    index = functions(facts.module)
    drafts = []
    seen: set[int] = set()
    for start in started(facts, data):
        function = start.function
        if id(function) in seen:
            continue
        seen.add(id(function))
        if _ended_in_finally(function, names, index) or _decorated_ending(function, names, index):
            continue
        use = None
        for reached in _reached(function, index):
            use = _uses(reached, names)
            if use is not None:
                break
        if use is None:
            continue
        registry = (
            dotted(use.value if isinstance(use, cst.Attribute) else use.func)
            if isinstance(use, (cst.Attribute, cst.Call))
            else None
        )
        drafts.append(
            Draft(
                scoped_session_outside_request_without_remove.RULE.code,
                use,
                {
                    "function": function.name.value,
                    "registry": registry or "",
                    "use": source_of(use, 50),
                    "start": call_text(start.start)
                    if isinstance(start.start, cst.Call)
                    else source_of(start.start, 50),
                },
                function.name.value,
                source_of(use, 50),
                related=start.start,
                related_label="run outside any request here",
            )
        )
    return drafts
