"""Ownership across calls: what a function does with a resource passed to one of its parameters.

Each parameter of each function gets one effect, the strongest of its uses:
  borrow   it is only used (methods called on it, attributes read, passed on to borrowers)
  unknown  something we cannot judge (passed to unknown code, `with param:`, awaited...)
  take     it outlives the call: returned, stored on an object or in a container, captured by a
           nested function, handed to a thread / task / callback, or held by a generator
  stream   a generator holds it across an open-ended loop or await (a stream, `captured-by-stream`)
  release  it is given back (closed, returned to its pool)
A caller that passes its resource to a borrowing parameter still owns it; to any other, the
resource is handed off (or, for `unknown`, perhaps handed off: nothing is reported).

The effects of a module's functions depend on each other (`nightly()` passes its session to
`refresh(db)`, which passes it to `count(db)`): they are computed together, starting from
`borrow` and raising each to what its uses need until nothing changes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.records import (
    BORROW,
    RELEASE,
    STREAM,
    TAKE,
    UNKNOWN,
    FunctionInfo,
    ParamEffects,
)
from leakcheck.analysis.syntax import SCOPE_TYPES, children, dotted, scope_locals, walk
from leakcheck.analysis.waits import finite_read, loops_or_waits
from leakcheck.config.ownership import ownership

__all__ = [
    "BORROW",
    "RELEASE",
    "STREAM",
    "TAKE",
    "UNKNOWN",
    "ParamEffects",
    "argument_effect",
    "callee_effects",
    "compute",
    "free_mentions",
    "kept_by_wrapper",
    "local_closure",
    "locals_of",
    "param_effects",
    "stronger",
]

_RANK = {BORROW: 0, UNKNOWN: 1, TAKE: 2, STREAM: 3, RELEASE: 4}
MAX_ROUNDS = 8
# Decorators that leave a call of the function a plain call; any other (`@app.task`,
# `@run_in_thread`, `@retry`) may run the body later or elsewhere: its parameters are unknown.
PLAIN_DECORATORS = frozenset(
    {"staticmethod", "classmethod", "property", "abstractmethod", "override", "overload", "wraps"}
)
_NEUTRAL = (
    cst.Comparison,
    cst.ComparisonTarget,
    cst.If,
    cst.While,
    cst.IfExp,
    cst.BooleanOperation,
    cst.UnaryOperation,
    cst.Assert,
    cst.FormattedStringExpression,
)
_CONTAINERS = (cst.Element, cst.DictElement, cst.StarredElement, cst.StarredDictElement)


def stronger(a: str, b: str) -> str:
    """The stronger of two effects (`borrow` < `unknown` < `take` < `stream` < `release`)."""
    return a if _RANK[a] >= _RANK[b] else b


# Per module, computed once on first use. Weakly keyed: an entry goes with its facts.
_EFFECTS: weakref.WeakKeyDictionary[CollectedFacts, dict[str, ParamEffects]] = (
    weakref.WeakKeyDictionary()
)


def param_effects(facts: CollectedFacts) -> dict[str, ParamEffects]:
    """What each function and class of the module does to each parameter (computed once per
    `facts`; while it is computed, the latest round, so that recursive calls see it)."""
    found = _EFFECTS.get(facts)
    if found is None:
        found = _EFFECTS[facts] = {}
        compute(facts, found)
    return found


def compute(facts: CollectedFacts, current: dict[str, ParamEffects]) -> None:
    """Fill `current` with effects for every function of the module (keys as in `facts.by_key`)
    and every class (key: the class name, from its `__init__`). `current` is the dict that
    `param_effects(facts)` answers from meanwhile, so recursive calls see the latest round.

    Each function's body is read once: what does not depend on other functions is fixed then;
    only the calls that receive a parameter are asked again each round.
    """
    infos = [i for i in facts.functions.values() if facts.by_key[i.key] is i]
    scans: dict[str, list[_Scan]] = {}
    for info in infos:
        names = _param_names(info)
        current[info.key] = ParamEffects(
            names, (BORROW,) * len(names), _is_async(info), positional=_positional(info)
        )
        scans[info.key] = _scan(facts, info, names)
    _classes(facts, current)
    for _ in range(MAX_ROUNDS):
        changed = False
        for info in infos:
            old = current[info.key]
            effects = tuple(_settle(facts, info, scan) for scan in scans[info.key])
            if effects != old.effects:
                current[info.key] = ParamEffects(
                    old.names, effects, old.asynchronous, old.rest, old.positional
                )
                changed = True
        _classes(facts, current)
        if not changed:
            return
    # Did not settle (deep recursion): whatever is not a plain borrow yet is not trusted either.
    for key, value in current.items():
        current[key] = ParamEffects(
            value.names,
            tuple(UNKNOWN if e == BORROW else e for e in value.effects),
            value.asynchronous,
            value.rest,
            value.positional,
        )


@dataclass
class _Scan:
    """One parameter's uses: the effect fixed by the body alone, and the calls it is passed to."""

    fixed: str
    calls: list[tuple[cst.Call, cst.Arg]]


def _settle(facts: CollectedFacts, info: FunctionInfo, scan: _Scan) -> str:
    effect = scan.fixed
    for call, arg in scan.calls:
        if effect == RELEASE:
            break
        found = argument_effect(facts, call, arg, info.class_name)
        if kept_by_wrapper(facts, info, call, found):
            found = BORROW  # `cur = RowCursor(db)`, used only here
        effect = stronger(effect, found)
    return effect


def _classes(facts: CollectedFacts, current: dict[str, ParamEffects]) -> None:
    for name in facts.classes:
        init = current.get(f"{name}.__init__")
        if init is not None:
            current[name] = ParamEffects(init.names, init.effects, False, UNKNOWN, init.positional)
        else:
            current[name] = ParamEffects((), (), False, TAKE)  # a dataclass keeps its fields


def _offset(info: FunctionInfo) -> int:
    params = info.params
    return 1 if info.class_name is not None and params[:1] in (("self",), ("cls",)) else 0


def _param_names(info: FunctionInfo) -> tuple[str, ...]:
    node = info.node
    assert isinstance(node, cst.FunctionDef)
    kwonly = tuple(p.name.value for p in node.params.kwonly_params)
    return (*info.params[_offset(info) :], *kwonly)


def _positional(info: FunctionInfo) -> int:
    return len(info.params) - _offset(info)


def _is_async(info: FunctionInfo) -> bool:
    """A coroutine function (an async generator's call returns a generator, not a coroutine)."""
    node = info.node
    return isinstance(node, cst.FunctionDef) and node.asynchronous is not None and not info.yields


def _scan(facts: CollectedFacts, info: FunctionInfo, names: tuple[str, ...]) -> list[_Scan]:
    node = info.node
    assert isinstance(node, cst.FunctionDef)
    if any(
        (
            dotted(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator) or ""
        ).rsplit(".", 1)[-1]
        not in PLAIN_DECORATORS
        for d in node.decorators
    ):
        return [_Scan(UNKNOWN, []) for _ in names]
    aliases = {name: facts.alias_closure(info, name) for name in names}
    scans = {
        name: _Scan(TAKE if aliases[name] & info.declared_global else BORROW, []) for name in names
    }
    every = frozenset().union(*aliases.values()) if aliases else frozenset()
    if not every:
        return [scans[name] for name in names]
    owners: dict[str, list[str]] = {}
    for name, group in aliases.items():
        for alias in group:
            owners.setdefault(alias, []).append(name)
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None]] = [
        (node.body, None, None)
    ]
    while stack:
        current, parent, grand = stack.pop()
        kind = type(current)  # exact types: see `syntax.SCOPE_TYPES`
        if kind in SCOPE_TYPES:
            for name in names:
                if free_mentions(current, aliases[name]) and not local_closure(
                    facts, info, current, aliases[name]
                ):
                    scans[name].fixed = stronger(scans[name].fixed, TAKE)  # may run later
            continue
        if kind is cst.Name:
            assert isinstance(current, cst.Name)
            for name in owners.get(current.value, ()):
                scan = scans[name]
                if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
                    scan.calls.append((grand, parent))
                else:
                    scan.fixed = stronger(scan.fixed, _use(current, parent, grand))
            continue
        if kind is cst.Call:
            assert isinstance(current, cst.Call)
            for arg in facts.released_args(current, info.class_name, None, external=False):
                if isinstance(arg, cst.Name):
                    for name in owners.get(arg.value, ()):
                        scans[name].fixed = RELEASE
        stack.extend((child, current, parent) for child in children(current))
    if info.yields:
        for name in names:
            scan = scans[name]
            if scan.fixed != BORROW or scan.calls or _mentions_any(node.body, aliases[name]):
                # A generator runs after the call returns: it holds what it was given.
                held = STREAM if _streams(node, aliases[name]) else TAKE
                scan.fixed = stronger(scan.fixed, held)
    return [scans[name] for name in names]


def _mentions_any(node: cst.CSTNode, aliases: frozenset[str]) -> bool:
    return any(isinstance(n, cst.Name) and n.value in aliases for n in walk(node))


def _use(name: cst.Name, parent: cst.CSTNode | None, grand: cst.CSTNode | None) -> str:
    """What one mention of the parameter (or an alias of it) does to it."""
    if isinstance(parent, cst.Attribute) and parent.value is name:
        if isinstance(grand, cst.Call) and grand.func is parent:
            return BORROW  # `db.query(...)`, `db.commit()`; releases are found by the caller
        if isinstance(grand, cst.Arg):
            return TAKE  # `stack.callback(db.close)`: its bound method outlives the call
        return BORROW
    if isinstance(parent, (cst.Return, cst.Yield, *_CONTAINERS)):
        return TAKE
    if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is name:
        targets = (
            [t.target for t in parent.targets]
            if isinstance(parent, cst.Assign)
            else [parent.target]
        )
        return BORROW if all(isinstance(t, cst.Name) for t in targets) else TAKE  # aliases
    if isinstance(parent, (cst.AssignTarget, cst.Param)):
        return BORROW  # rebound: not a use of what was passed
    if isinstance(parent, _NEUTRAL):
        return BORROW
    return UNKNOWN


def argument_effect(
    facts: CollectedFacts,
    call: cst.Call,
    arg: cst.Arg,
    class_name: str | None,
    on_demand: bool = False,
) -> str:
    """What `call` does to the resource passed as `arg`: borrow, take, release, or unknown.

    Resolved from the callee's function facts (same module, `self.method`, a class of the module,
    or an imported project function through its export), else from `rules/ownership.toml` for
    external APIs. A callee that cannot be resolved at all is `unknown`. `on_demand`: `arg` is a
    tracked resource being judged, so an imported callee's module is summarised even if it names
    no database word (`CollectedFacts.imported_callee`); computing a summary's own parameter
    effects does not ask that (every parameter of a library would).
    """
    data = ownership()
    func = call.func
    qualified = facts.qualify(func)
    whole = dotted(func)
    if qualified in data.takes_callables or (whole or "") in data.takes_callables:
        return TAKE
    if isinstance(func, cst.Attribute) and func.attr.value in data.takes_methods:
        return TAKE
    effects = callee_effects(facts, call, class_name, on_demand)
    if effects is not None:
        if effects.asynchronous and id(call) not in facts.awaited:
            return UNKNOWN  # a coroutine not awaited here: it may run later
        return effects.for_argument(call, arg)
    keyword = arg.keyword.value if arg.keyword is not None else None
    if isinstance(func, cst.Attribute) and data.borrowing_method(
        func.attr.value, keyword, _position(call, arg)
    ):
        return BORROW  # `df.to_sql("t", conn)` (see `borrowing-methods`)
    if whole is None:
        return UNKNOWN
    head = whole.split(".", 1)[0]
    if head in facts.imports:
        if facts.imported(whole) is not None:
            return UNKNOWN  # a project name that is not a function (a pool, a factory object)
        return BORROW if data.borrows_module(qualified) else UNKNOWN
    if "." not in whole and whole in data.borrowing_builtins and whole not in facts.defined:
        return BORROW
    return UNKNOWN


def _position(call: cst.Call, arg: cst.Arg) -> int:
    """The 0-based position of a positional `arg` in `call` (-1 for a keyword or a star)."""
    position = 0
    for each in call.args:
        if each.keyword is not None or each.star:
            if each is arg:
                return -1
            continue
        if each is arg:
            return position
        position += 1
    return -1


def callee_effects(
    facts: CollectedFacts, call: cst.Call, class_name: str | None, on_demand: bool = False
) -> ParamEffects | None:
    """The parameter effects of the function or class that `call` calls, when it is known
    (`on_demand`: as `argument_effect`)."""
    func = call.func
    known = param_effects(facts)
    if isinstance(func, cst.Name):
        if func.value in known and func.value not in facts.imports:
            return known[func.value]
    elif (
        isinstance(func, cst.Attribute)
        and class_name is not None
        and dotted(func.value) in ("self", "cls")
    ):
        return known.get(f"{class_name}.{func.attr.value}")
    text = dotted(func)
    if text is None:
        return None
    export = facts.imported_callee(text) if on_demand else facts.imported(text)
    if export is not None and export.params is not None:
        return export.params
    return None


def free_mentions(node: cst.CSTNode, aliases: frozenset[str]) -> bool:
    """Does a nested function, lambda or class use one of `aliases` of the enclosing scope? A
    name it binds itself (a parameter, `x = ...`, `for x in`, `with ... as x`) is its own."""
    own = scope_locals(node) if isinstance(node, (cst.FunctionDef, cst.Lambda)) else set()
    free = aliases - own
    if not free:
        return False
    stack = children(node)
    while stack:
        sub = stack.pop()
        if isinstance(sub, (cst.FunctionDef, cst.Lambda)):
            if free_mentions(sub, free):
                return True
            continue
        if isinstance(sub, cst.Name) and sub.value in free:
            return True
        if type(sub) is cst.Attribute or type(sub) is cst.Arg:
            stack.append(sub.value)  # not `bot.connection`'s name, nor `f(conn=...)`'s keyword
            continue
        stack.extend(children(sub))
    return False


def _streams(node: cst.FunctionDef, aliases: frozenset[str]) -> bool:
    """A generator using the parameter inside an open-ended loop or wait (see streams.py)."""
    return _mentions_any(node.body, aliases) and loops_or_waits(node) and not finite_read(node)


# -- values that never leave their scope (issue 27, "Uses that are not hand-offs") ------------

# Methods that, called on a local wrapper (or given a local closure), may give back or pass on the
# resource it holds: `w.close()`, `w.__exit__(...)`, a thread's `w.start()`. The wrapper is then
# taken as the resource's owner, as before (a wrapper that releases is issue 26's, not followed).
HANDS_ON = frozenset(
    {
        "close",
        "aclose",
        "release",
        "dispose",
        "terminate",
        "shutdown",
        "disconnect",
        "detach",
        "putconn",
        "__exit__",
        "__aexit__",
        "__del__",
        "start",
        "run",
        "submit",
        "register",
    }
)
_BINDING_PARENTS = (cst.AssignTarget, cst.AsName, cst.Param, cst.Del, cst.For, cst.CompFor)
# Methods whose result may be a handle that reaches the wrapped resource (`cursor.connection`,
# PEP 249): returning or yielding `w.cursor()` hands the resource over with it.
HANDLE_METHODS = frozenset(
    {"cursor", "connection", "connect", "session", "get_connection", "raw_connection", "__enter__"}
)
_LEAVING = (cst.Return, cst.Yield, *_CONTAINERS)


@dataclass(frozen=True)
class Locals:
    """What in one scope holds a resource only for the scope's own use.

    wrappers: ids of the calls in `w = C(..., res, ...)` (a class, by its CapWords name, or
    `functools.partial`) whose result `w` never leaves the scope: only its attributes and methods
    are used (not a release or a start, `HANDS_ON`), it is called, compared, or passed to a
    borrowing callee; never returned, yielded, stored, put in a container, aliased, captured by a
    nested scope, entered with `with`, or declared `global`.
    closures: ids of the nested `def` (undecorated, not a generator) or `name = lambda ...` nodes
    whose name is used in the same way and, for a coroutine function, only called under `await`.
    """

    wrappers: frozenset[int]
    closures: frozenset[int]


_LOCALS: weakref.WeakKeyDictionary[CollectedFacts, dict[int, Locals]] = weakref.WeakKeyDictionary()


def locals_of(facts: CollectedFacts, info: FunctionInfo) -> Locals:
    """The scope's local wrappers and closures (see `Locals`), computed once per scope."""
    per_module = _LOCALS.setdefault(facts, {})
    found = per_module.get(id(info.node))
    if found is None:
        found = per_module[id(info.node)] = Locals(frozenset(), frozenset())  # while computing
        found = per_module[id(info.node)] = _locals(facts, info)
    return found


def _locals(facts: CollectedFacts, info: FunctionInfo) -> Locals:
    node = info.node
    if not isinstance(node, cst.FunctionDef):
        return Locals(frozenset(), frozenset())  # module level: not judged this way
    mentions: dict[str, list[_Mention]] = {}
    nested: list[cst.CSTNode] = []
    wrappers: dict[str, list[cst.Call]] = {}
    closures: dict[str, list[cst.FunctionDef | cst.Lambda]] = {}
    stack: list[_Visit] = [(child, node.body, None, None) for child in children(node.body)]
    while stack:
        current, parent, grand, great = stack.pop()
        kind = type(current)
        if kind in SCOPE_TYPES:
            nested.append(current)
            if kind is cst.FunctionDef:
                assert isinstance(current, cst.FunctionDef)
                closures.setdefault(current.name.value, []).append(current)
            continue
        if kind is cst.Name:
            assert isinstance(current, cst.Name) and parent is not None
            if _refers(current, parent):
                mentions.setdefault(current.value, []).append((current, parent, grand, great))
            continue
        if kind is cst.Assign:
            assert isinstance(current, cst.Assign)
            target = current.targets[0].target if len(current.targets) == 1 else None
            if isinstance(target, cst.Name):
                value = current.value
                if isinstance(value, cst.Call) and _wraps(facts, value):
                    wrappers.setdefault(target.value, []).append(value)
                elif isinstance(value, cst.Lambda):
                    closures.setdefault(target.value, []).append(value)
        stack.extend((child, current, parent, grand) for child in children(current))

    def stays(name: str, own: cst.CSTNode | None, awaited: bool) -> bool:
        if name in info.declared_global or name in info.params:
            return False
        if any(n is not own and free_mentions(n, frozenset({name})) for n in nested):
            return False
        return all(_local_use(facts, m, awaited) for m in mentions.get(name, []))

    kept: set[int] = set()
    for name, calls in wrappers.items():
        if name not in closures and stays(name, None, False):
            kept.update(id(call) for call in calls)
    local: set[int] = set()
    for name, defs in closures.items():
        if len(defs) != 1 or name in wrappers:
            continue  # bound twice: which one a call runs is not known
        only = defs[0]
        if isinstance(only, cst.FunctionDef):
            if only.decorators or _generator(only):
                continue  # `@app.route`, `@atexit.register`: registered, run later
            awaited = only.asynchronous is not None
        else:
            awaited = False
        if stays(name, only, awaited):
            local.add(id(only))
    return Locals(frozenset(kept), frozenset(local))


def _refers(name: cst.Name, parent: cst.CSTNode | None) -> bool:
    """Is `name` a reference to a variable (not `x.name`, nor the keyword of `f(name=...)`)?"""
    if isinstance(parent, cst.Attribute):
        return parent.attr is not name
    if isinstance(parent, cst.Arg):
        return parent.keyword is not name
    return True


def _wraps(facts: CollectedFacts, call: cst.Call) -> bool:
    """`RowCursor(conn)` (a CapWords callee: a class) or `functools.partial(...)`."""
    qualified = facts.qualify(call.func)
    if qualified == "functools.partial":
        return True
    whole = dotted(call.func)
    if whole is None:
        return False
    last = whole.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.isupper()


def _generator(node: cst.FunctionDef) -> bool:
    return any(isinstance(n, cst.Yield) for n in walk(node.body))


# A node with its parent, grandparent and great-grandparent; a name mentioned with the same.
_Visit = tuple[cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None, cst.CSTNode | None]
_Mention = tuple[cst.Name, cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None]


def _local_use(facts: CollectedFacts, mention: _Mention, awaited: bool) -> bool:
    """Does this mention of a local wrapper or closure keep it in the scope?"""
    name, parent, grand, great = mention
    if isinstance(parent, _BINDING_PARENTS):
        return True  # (re)bound, deleted, or iterated: `for row in w`
    if isinstance(parent, cst.Attribute) and parent.value is name:
        if isinstance(grand, cst.Call) and grand.func is parent:
            method = parent.attr.value
            return method not in HANDS_ON and not (
                method in HANDLE_METHODS and isinstance(great, _LEAVING)
            )
        if isinstance(grand, cst.Arg):
            return isinstance(great, cst.Call) and plainly_borrows(facts, great)
        # `return w.conn`, `c = w.conn`: what it holds may leave through the attribute
        return not isinstance(grand, (*_LEAVING, cst.Assign, cst.AnnAssign))
    if isinstance(parent, cst.Call) and parent.func is name:
        return not awaited or isinstance(grand, cst.Await)
    if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
        return plainly_borrows(facts, grand)
    return isinstance(parent, _NEUTRAL)


def plainly_borrows(facts: CollectedFacts, call: cst.Call) -> bool:
    """Does `call` only use its arguments, by data alone (a borrowing builtin, a function of the
    standard library or of a borrowing package, not a project name)? Unlike `argument_effect`
    it never asks the module's parameter effects, so it can be used while they are computed."""
    data = ownership()
    whole = dotted(call.func)
    if whole is None:
        return False
    qualified = facts.qualify(call.func)
    if qualified in data.takes_callables or whole in data.takes_callables:
        return False
    if isinstance(call.func, cst.Attribute) and call.func.attr.value in data.takes_methods:
        return False
    head = whole.split(".", 1)[0]
    if head in facts.imports:
        return facts.imported(whole) is None and data.borrows_module(qualified)
    return "." not in whole and whole in data.borrowing_builtins and whole not in facts.defined


def local_closure(
    facts: CollectedFacts,
    info: FunctionInfo,
    node: cst.CSTNode,
    aliases: frozenset[str],
    settled: bool = False,
) -> bool:
    """Is `node`, a nested `def` or lambda of `info`'s scope that captures `aliases`, only called
    in the scope (`Locals.closures`), and does its body only use what it captures (methods other
    than `HANDS_ON`, attributes, comparisons, borrowing calls)? Then capturing it is not a
    hand-off: the enclosing function still owns the resource.

    `settled`: the module's parameter effects are final, so a call passing the resource on is
    judged by `argument_effect` (while they are computed, by data alone: `plainly_borrows`)."""
    if id(node) not in locals_of(facts, info).closures:
        return False
    assert isinstance(node, (cst.FunctionDef, cst.Lambda))
    free = aliases - scope_locals(node)
    stack: list[_Visit] = [(child, node, None, None) for child in children(node)]
    while stack:
        current, parent, grand, great = stack.pop()
        if type(current) in SCOPE_TYPES:
            if free_mentions(current, free):
                return False
            continue
        if isinstance(current, cst.Name) and current.value in free:
            if not _refers(current, parent):
                continue
            if isinstance(parent, cst.Attribute) and parent.value is current:
                if isinstance(grand, cst.Call) and grand.func is parent:
                    method = parent.attr.value
                    if method in HANDS_ON:
                        return False  # `def cleanup(): conn.close()`: it gives it back
                    if method in HANDLE_METHODS and (isinstance(great, _LEAVING) or great is node):
                        return False  # `return conn.cursor()`: the caller reaches `conn`
            elif isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
                borrows = (
                    argument_effect(facts, grand, parent, info.class_name) == BORROW
                    if settled
                    else plainly_borrows(facts, grand)
                )
                if not borrows:
                    return False
            elif not isinstance(parent, _NEUTRAL):
                return False
            continue
        stack.extend((child, current, parent, grand) for child in children(current))
    return True


def kept_by_wrapper(
    facts: CollectedFacts, info: FunctionInfo | None, call: cst.Call, effect: str
) -> bool:
    """Is passing the resource to `call`, with `effect` `unknown` or `take`, no hand-off because
    `call` builds a local wrapper that never leaves the scope (`Locals.wrappers`)?

    Kept with the caller: an unknown class (`RowCursor(conn)`), a class of the module that
    stores its argument only on `self` and has no release-like method (`HANDS_ON`), and
    `functools.partial(f, conn)` of a function that is not a release. Not: a class of another
    module of the project that takes its argument (its methods are not known here: it may close
    it), the `takes-callables` of `rules/ownership.toml` (a thread, a finaliser).
    """
    if effect not in (UNKNOWN, TAKE) or info is None:
        return False
    if id(call) not in locals_of(facts, info).wrappers:
        return False
    func = call.func
    qualified = facts.qualify(func)
    if qualified == "functools.partial":
        first = call.args[0] if call.args else None
        return (
            first is not None
            and first.keyword is None
            and not first.star
            and not _releasing(facts, first.value)
        )
    whole = dotted(func) or ""
    data = ownership()
    if qualified in data.takes_callables or whole in data.takes_callables:
        return False
    if isinstance(func, cst.Name) and func.value in facts.classes:
        return _plain_holder(facts, func.value)
    if whole.split(".", 1)[0] in facts.imports:
        export = facts.imported(whole)
        if export is not None:
            return effect == UNKNOWN and export.params is not None
    return effect == UNKNOWN


def _releasing(facts: CollectedFacts, func: cst.BaseExpression) -> bool:
    """`pool.putconn`, `conn.close`, a release helper of the module or of the project."""
    text = dotted(func)
    if text is None:
        return True
    if text.rsplit(".", 1)[-1] in HANDS_ON or text in facts.releasers:
        return True
    export = facts.imported(text)
    return export is not None and export.role == "releaser"


def _plain_holder(facts: CollectedFacts, class_name: str) -> bool:
    """A class of the module with no release-like method, whose `__init__` keeps what it is
    given only on `self` (`self.conn = conn`) or only uses it."""
    if any(f"{class_name}.{method}" in facts.by_key for method in HANDS_ON):
        return False
    init = facts.by_key.get(f"{class_name}.__init__")
    if init is None:
        return False  # a dataclass, or an `__init__` inherited from a base we cannot see
    node = init.node
    assert isinstance(node, cst.FunctionDef)
    names = frozenset(_param_names(init))
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None, cst.CSTNode | None]] = [
        (node.body, None, None)
    ]
    while stack:
        current, parent, grand = stack.pop()
        if type(current) in SCOPE_TYPES:
            if free_mentions(current, names):
                return False
            continue
        if isinstance(current, cst.Name) and current.value in names:
            if not _refers(current, parent):
                continue
            if isinstance(parent, cst.Assign) and parent.value is current:
                if not all(
                    isinstance(t.target, cst.Attribute) and dotted(t.target.value) == "self"
                    for t in parent.targets
                ):
                    return False
            elif isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
                if not plainly_borrows(facts, grand):
                    return False
            elif _use(current, parent, grand) != BORROW:
                return False
            continue
        stack.extend((child, current, parent) for child in children(current))
    return True
