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
        effect = stronger(effect, argument_effect(facts, call, arg, info.class_name))
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
                if free_mentions(current, aliases[name]):
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
    facts: CollectedFacts, call: cst.Call, arg: cst.Arg, class_name: str | None
) -> str:
    """What `call` does to the resource passed as `arg`: borrow, take, release, or unknown.

    Resolved from the callee's function facts (same module, `self.method`, a class of the module,
    or an imported project function through its export), else from `rules/ownership.toml` for
    external APIs. A callee that cannot be resolved at all is `unknown`.
    """
    data = ownership()
    func = call.func
    qualified = facts.qualify(func)
    whole = dotted(func)
    if qualified in data.takes_callables or (whole or "") in data.takes_callables:
        return TAKE
    if isinstance(func, cst.Attribute) and func.attr.value in data.takes_methods:
        return TAKE
    effects = callee_effects(facts, call, class_name)
    if effects is not None:
        if effects.asynchronous and id(call) not in facts.awaited:
            return UNKNOWN  # a coroutine not awaited here: it may run later
        return effects.for_argument(call, arg)
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


def callee_effects(
    facts: CollectedFacts, call: cst.Call, class_name: str | None
) -> ParamEffects | None:
    """The parameter effects of the function or class that `call` calls, when it is known."""
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
    whole = dotted(func)
    if whole is None:
        return None
    export = facts.imported(whole)
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
        stack.extend(children(sub))
    return False


def _streams(node: cst.FunctionDef, aliases: frozenset[str]) -> bool:
    """A generator using the parameter inside an open-ended loop or wait (see streams.py)."""
    return _mentions_any(node.body, aliases) and loops_or_waits(node) and not finite_read(node)
