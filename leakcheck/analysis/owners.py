"""Classes of the project that own a resource: their instances are a resource of their own.

A class that acquires a resource onto `self` in `__init__` (or in `connect()` / `open()`) and
gives it back in a method of its own (`close()`, `release()`, `__exit__`, ...) hands out, with
each instance, a resource that only that method returns: `Ledger(pool)` takes a pool connection
that `ledger.close()` puts back. Such a class makes a *derived kind* (in memory, never written to
the catalogue) of which constructing the class is the acquisition and that method the release, so
that every rule judges `ledger = Ledger(pool)` like `conn = pool.getconn()`, here and, through
the module's summary (the class exported as a factory), in the modules that import it.

A class that acquires only in `open()` / `connect()` takes nothing when constructed: its derived
kind is held by the instance (`Kind.resource_is_source`, as peewee's `db.connect()`), acquired by
`db.open()` and given back by `db.close()`; it is exported as a source factory instead.

Not an owner: a class that only keeps what it is given (`self.conn = conn`: borrowed), or whose
methods never give back what it acquired (its `close()` closes a cursor only): closing it would
not help, so its instances are not judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import block_statements, dotted, unwrap_value, walk
from leakcheck.config.catalogue import Kind

# Methods whose acquisition onto `self` makes the instance hold the resource from construction
# (`__init__`) or from a method meant to be called once on a fresh instance.
ACQUIRERS = ("__init__", "connect", "open")
# `with obj:` runs these (Python language reference, "The with statement").
EXITS = {"__exit__": "__enter__", "__aexit__": "__aenter__"}


@dataclass(frozen=True)
class Owned:
    """One resource a class keeps on `self`: where it is acquired and what gives it back.

    `method`: the acquiring method (`__init__`); `index`: the statement of that method storing it;
    `call`, `kind`: the acquiring call and its kind; `attribute`: `self.x`; `releasers`: the
    class's methods that give it back (`close`, `__exit__`).
    """

    method: str
    index: int
    call: cst.Call
    kind: Kind
    attribute: str
    releasers: tuple[str, ...]


def stored_acquisitions(
    facts: CollectedFacts, info: FunctionInfo
) -> list[tuple[int, cst.Call, Kind, str]]:
    """(index of the statement storing it on `self`, acquiring call, kind, `self.x`), for each
    resource the method `info` stores on `self`, directly or from a local it acquired into."""
    node = info.node
    if not isinstance(node, cst.FunctionDef):
        return []
    locals_: dict[str, tuple[cst.Call, Kind]] = {}
    out = []
    for index, stmt in enumerate(block_statements(node.body)):
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, (cst.Assign, cst.AnnAssign)) or small.value is None:
                continue
            targets = (
                [t.target for t in small.targets]
                if isinstance(small, cst.Assign)
                else [small.target]
            )
            value = unwrap_value(small.value)
            acquired: tuple[cst.Call, Kind] | None = None
            if isinstance(value, cst.Call):
                kind = facts.acquisition(value, info.class_name)
                acquired = (value, kind) if kind is not None else None
            elif isinstance(value, cst.Name):
                acquired = locals_.get(value.value)
            if acquired is None:
                continue
            for target in targets:
                text = dotted(target)
                if isinstance(target, cst.Name):
                    locals_[target.value] = acquired
                elif text is not None and text.startswith("self.") and text.count(".") == 1:
                    out.append((index, acquired[0], acquired[1], text))
    return out


def releases_attribute(
    facts: CollectedFacts,
    kind: Kind,
    class_name: str | None,
    node: cst.CSTNode,
    attribute: str,
    names: frozenset[str],
) -> bool:
    """Does `node` release `self.x` (`attribute`), or a local holding it (one of `names`), as
    `kind` releases (`pool.putconn(self.conn)`, `self.conn.close()`, `closing(self.conn)`)?"""
    for sub in walk(node):
        if isinstance(sub, cst.Call):
            released = facts.released_args(sub, class_name, kind)
            if facts.is_closing(sub, kind):
                released = [a.value for a in sub.args]
            if any(dotted(arg) == attribute or dotted(arg) in names for arg in released):
                return True
    return False


def holders(body: cst.CSTNode, attribute: str) -> frozenset[str]:
    """Locals that a method (`body`) moves `self.x` (`attribute`) into: `conn = self.conn`,
    `conn, self.conn = self.conn, None`. Returns their names."""
    names: set[str] = set()
    for node in walk(body):
        if not isinstance(node, cst.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[cst.BaseExpression, cst.BaseExpression]] = [
                (target.target, node.value)
            ]
            if isinstance(target.target, cst.Tuple) and isinstance(node.value, cst.Tuple):
                pairs = [
                    (t.value, v.value)
                    for t, v in zip(target.target.elements, node.value.elements, strict=False)
                ]
            for left, right in pairs:
                if isinstance(left, cst.Name) and dotted(right) == attribute:
                    names.add(left.value)
    return frozenset(names)


def owned(facts: CollectedFacts, methods: dict[str, FunctionInfo]) -> list[Owned]:
    """The resources a class of the module (`methods`: its methods by name) acquires onto
    `self` in an acquirer method of its own and gives back in another of its methods. Base
    classes are not read: a method inherited from elsewhere is not seen."""
    out = []
    for name in ACQUIRERS:
        info = methods.get(name)
        if info is None:
            continue
        if name != "__init__" and not all(_is_self(r) for r in info.returns):
            continue  # `conn = db.connect()`: the caller holds the connection, not the object
        for index, call, kind, attribute in stored_acquisitions(facts, info):
            releasers = tuple(
                other
                for other, other_info in sorted(methods.items())
                if (other in EXITS or (other not in ACQUIRERS and not other.startswith("__")))
                and _gives_back(facts, other_info, kind, attribute)
            )
            if releasers:
                # The method a caller would call first: a public one (`close`) before `__exit__`.
                releasers = tuple(sorted(releasers, key=lambda m: (m in EXITS, m)))
                out.append(Owned(name, index, call, kind, attribute, releasers))
    return out


def _gives_back(facts: CollectedFacts, info: FunctionInfo, kind: Kind, attribute: str) -> bool:
    """Does the method release `self.x` without acquiring it again (`reconnect()` does both)?"""
    node = info.node
    if not isinstance(node, cst.FunctionDef):
        return False
    if any(a == attribute for _, _, _, a in stored_acquisitions(facts, info)):
        return False
    names = holders(node.body, attribute)
    return releases_attribute(facts, kind, info.class_name, node.body, attribute, names)


def _is_self(value: cst.BaseExpression) -> bool:
    """`self`, or `None` (a `return` without a value records nothing)."""
    return isinstance(value, cst.Name) and value.value in ("self", "None")


def returns_self(info: FunctionInfo | None) -> bool:
    """Does the method (`__enter__`) end by returning `self`, and return nothing else?"""
    if info is None or not info.returns:
        return False
    return all(isinstance(r, cst.Name) and r.value == "self" for r in info.returns)


def owner_kind(facts: CollectedFacts, class_name: str, found: list[Owned]) -> Kind:
    """The derived kind of `class_name`'s instances, from what it owns (`found`, not empty).

    Family "session" (an object closed by a method of its own, LC2xx); `with` releases when the
    class's `__exit__` gives back everything it owns, and a fix may write `with` when `__enter__`
    returns the instance itself and the class is synchronous.
    """
    releasers = [set(o.releasers) for o in found]
    common = set.intersection(*releasers)
    exits = {m for m in common if m in EXITS}
    public = sorted(m for m in common if m not in EXITS) or sorted(
        {m for r in releasers for m in r if m not in EXITS}
    )
    enter = facts.by_key.get(f"{class_name}.__enter__")
    synchronous = "__exit__" in exits and returns_self(enter)
    inner = found[0].kind
    held = f"the {inner.resource} it takes from `{_call_text(found[0].call)}`"
    if public and public[0] == "close":
        released = f"closed (its `close()` gives back {held})"
    elif public:
        released = f"released with `{public[0]}()` (which gives back {held})"
    else:
        released = f"closed (only its `__exit__`, run by `with`, gives back {held})"
    return Kind(
        name=f"{class_name} (owns a {inner.name} {inner.resource})",
        family="session",
        resource=f"`{class_name}` object",
        released=released,
        acquire_methods=frozenset(),
        acquire_by_calling_source=False,
        acquire_callables=frozenset({class_name}),
        release_methods=frozenset(),
        self_release_methods=frozenset(public),
        release_keyword="",
        with_releases=bool(exits),
        with_note=f"`{class_name}` is not a context manager",
        source_constructors=frozenset(),
        source_names=(),
        context_manager_methods=frozenset(),
        context_manager="",
        acquire_awaited=False,
        with_only_releases=synchronous,
        release_is_idempotent=False,
        # it weighs what it owns: a wrapper of a sqlite3 file weighs as the file
        severity=inner.severity_of(facts.qualify(found[0].call.func)),
    )


def opened_kind(facts: CollectedFacts, class_name: str, found: list[Owned]) -> Kind:
    """The derived kind of a class that acquires only in `open()` / `connect()` (`found`, not
    empty, none of it in `__init__`): constructing it takes nothing (`BotDB(path)` keeps a
    path), calling that method on an instance does, and the instance holds what it took
    (`Kind.resource_is_source`, as peewee's `db.connect()` / `db.close()`): `db.open()` is the
    acquisition, `db.close()` the release, and a module-level instance opened and closed by
    startup and shutdown hooks is the process's.

    Family "session" (LC2xx); `with` is not taken to release (the class's `__enter__` would
    have to open it); the fixes write `<instance>.close()` when the class has `close()`.
    """
    base = owner_kind(facts, class_name, found)
    openers = frozenset(o.method for o in found)
    opened = " / ".join(f"`{m}()`" for m in sorted(openers))
    return replace(
        base,
        name=f"{class_name} (opens a {found[0].kind.name} {found[0].kind.resource})",
        resource=f"`{class_name}` {found[0].kind.resource}",
        acquire_methods=openers,
        acquire_callables=frozenset(),
        release_all_methods=base.self_release_methods,
        with_releases=False,
        with_only_releases=False,
        with_note=f"`with` on a `{class_name}` object is not known to close what {opened} opens",
        source_constructors=frozenset({class_name}),
        resource_is_source=True,
    )


def owner_kinds(facts: CollectedFacts) -> dict[str, tuple[Kind, list[Owned]]]:
    """Class name -> (the derived kind of its instances, what it owns), for each class of the
    module that owns a resource (see the module docstring). A class that acquires in
    `__init__` makes a kind acquired by calling the class (`owner_kind`); one that acquires only
    in `open()` / `connect()`, a kind acquired by calling that method on an instance
    (`opened_kind`, `Kind.resource_is_source`): its constructor takes nothing."""
    out = {}
    for class_name, methods in sorted(class_methods(facts).items()):
        if not any(name in methods for name in ACQUIRERS):
            continue
        found = owned(facts, methods)
        if not found:
            continue
        if any(o.method == "__init__" for o in found):
            out[class_name] = (owner_kind(facts, class_name, found), found)
        else:
            out[class_name] = (opened_kind(facts, class_name, found), found)
    return out


def _call_text(call: cst.Call) -> str:
    """`pool.getconn()` for the acquiring call (its arguments elided)."""
    text = dotted(call.func)
    return f"{text}()" if text is not None else "a call"


# Methods of a list or queue that take an element out, and that put one back.
TAKE = frozenset({"pop", "popleft", "get", "get_nowait"})
PUT = frozenset({"append", "appendleft", "put", "put_nowait", "add"})


@dataclass(frozen=True)
class HomePool:
    """A class of the project that is a pool: `acquire` hands out resources it creates or takes
    from a free list it keeps (`free`, `self._free`, "" when none), `release` takes one back
    (its argument number `index`, after `self`) by closing it or putting it on that list."""

    class_name: str
    acquire: str
    release: str
    index: int
    kind: Kind  # the kind of what it hands out (a driver connection)
    free: str
    extra: tuple[str, ...] = ()  # `release`'s parameters besides the resource (`txn_id`)


def home_pools(facts: CollectedFacts) -> dict[str, HomePool]:
    """Class name -> its shape, for each class of the module that is a home-grown pool.

    Read from what the first pass recorded per method (its returns, calls and local
    assignments), without walking the tree again: most classes are ruled out by their returns.
    """
    out = {}
    for class_name, methods in sorted(class_methods(facts).items()):
        public = {n: i for n, i in methods.items() if not n.startswith("_")}
        if not any(i.returns for i in public.values()) or not any(
            len(i.params) > 1 for i in public.values()
        ):
            continue
        filled: dict[str, Kind] | None = None
        for name, info in sorted(public.items()):
            if not info.returns:
                continue
            shape = _hands_out(facts, info)
            if shape is None:
                continue
            kind, free = shape
            if kind is None:  # only from the free list: what the class fills it with
                if filled is None:
                    filled = _free_lists(facts, class_name, methods.values())
                kind = filled.get(free)
                if kind is None:
                    continue
            back = _takes_back(facts, public, kind, free, exclude=name)
            if back is not None:
                params = public[back[0]].params[1:]
                extra = tuple(p for i, p in enumerate(params) if i != back[1])
                out[class_name] = HomePool(class_name, name, back[0], back[1], kind, free, extra)
                break
    return out


def class_methods(facts: CollectedFacts) -> dict[str, dict[str, FunctionInfo]]:
    """Class name -> method name -> its facts, for the classes of the module."""
    out: dict[str, dict[str, FunctionInfo]] = {}
    for key, info in facts.by_key.items():
        if info.class_name is not None and key.startswith(f"{info.class_name}."):
            out.setdefault(info.class_name, {})[key.split(".", 1)[1]] = info
    return out


def pool_kind(pool: HomePool) -> Kind:
    """The derived kind of `pool`'s resources: taken by `<pool>.acquire()`, given back by
    `<pool>.release(conn)`, where `<pool>` is an instance of the class (pool family)."""
    inner = pool.kind
    return Kind(
        name=f"{pool.class_name} (a pool of {inner.name} {inner.resource}s)",
        family="pool",
        resource=inner.resource,
        # A class keeping no free list and handing out fresh driver connections closes what it
        # is given back: no pool to speak of (one wrapping a library pool gives them back to it).
        released=(
            f"given back to the pool with `{pool.release}()`"
            if pool.free or inner.family == "pool"
            else f"closed through `{pool.release}()`"
        ),
        acquire_methods=frozenset({pool.acquire}),
        acquire_by_calling_source=False,
        acquire_callables=frozenset(),
        release_methods=frozenset({pool.release}),
        self_release_methods=frozenset(),
        release_keyword="",
        with_releases=False,
        with_note=f"`with` on a connection of `{pool.class_name}` does not give it back",
        source_constructors=frozenset({pool.class_name}),
        source_names=(),
        context_manager_methods=frozenset(),
        context_manager="",
        not_context_manager_methods=frozenset({pool.acquire}),
        fix_caveat=(
            f"`{pool.release}()` also takes {', '.join(f'`{p}`' for p in pool.extra)}, which the "
            "fix does not pass: check that the connection goes back where it came from"
            if pool.extra
            else ""
        ),
        severity=inner.severity,  # a pool of them weighs as they do
    )


def _free_lists(
    facts: CollectedFacts, class_name: str, methods: Iterable[FunctionInfo]
) -> dict[str, Kind]:
    """`self.x` -> kind, for the lists the class fills with fresh resources:
    `self.x.append(psycopg2.connect(...))` (or a local acquired into) and
    `self.x = [psycopg2.connect(...) for _ in range(n)]` (a statement of the method's body)."""
    out: dict[str, Kind] = {}
    for info in methods:
        for call in info.calls:
            func = call.func
            if not (isinstance(func, cst.Attribute) and func.attr.value in PUT and call.args):
                continue
            holder = dotted(func.value)
            kind = _fresh(facts, info, call.args[0].value)
            if kind is not None and holder is not None and holder.startswith("self."):
                out[holder] = kind
        node = info.node
        if not isinstance(node, cst.FunctionDef):
            continue
        for stmt in block_statements(node.body):
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.Assign) and isinstance(small.value, cst.ListComp):
                    kind = _fresh(facts, info, small.value.elt)
                    for target in small.targets:
                        text = dotted(target.target)
                        if kind is not None and text is not None and text.startswith("self."):
                            out[text] = kind
    return out


def _fresh(facts: CollectedFacts, info: FunctionInfo, value: cst.BaseExpression) -> Kind | None:
    """The kind of a fresh resource `value` is: an acquiring call, or a local bound to one."""
    value = unwrap_value(value)
    if isinstance(value, cst.Call):
        return facts.acquisition(value, info.class_name)
    if isinstance(value, cst.Name):
        for bound in info.assigned.get(value.value, ()):
            inner = unwrap_value(bound)
            if isinstance(inner, cst.Call):
                kind = facts.acquisition(inner, info.class_name)
                if kind is not None:
                    return kind
    return None


def _hands_out(facts: CollectedFacts, info: FunctionInfo) -> tuple[Kind | None, str] | None:
    """(kind, free list) when every `return` of the method gives a fresh resource or one taken
    from a list the class keeps (`self._free.pop()`, directly or through a local): the kind of
    the fresh ones (None when all come from the list), the list ("" when none). None otherwise."""
    kind: Kind | None = None
    free = ""
    for value in info.returns:
        got, holder = _taken(facts, info, unwrap_value(value))
        if got is None and not holder:
            return None  # something else than a fresh resource or one from the free list
        kind, free = kind or got, free or holder
    if kind is None and not free:
        return None
    return kind, free


def _taken(
    facts: CollectedFacts, info: FunctionInfo, value: cst.BaseExpression
) -> tuple[Kind | None, str]:
    """(kind, "") for a fresh resource (`psycopg2.connect()`, or a local bound to one); (kind or
    None, `self.x`) for one taken from a list the class keeps (`self._free.pop()`, or a local
    bound to that, perhaps also to a fresh one); (None, "") for anything else."""
    values = [value]
    if isinstance(value, cst.Name):
        values = [unwrap_value(v) for v in info.assigned.get(value.value, ())]
    kind: Kind | None = None
    free = ""
    for one in values:
        if not isinstance(one, cst.Call):
            continue
        func = one.func
        if isinstance(func, cst.Attribute) and func.attr.value in TAKE:
            holder = dotted(func.value)
            if holder is not None and holder.startswith("self.") and holder.count(".") == 1:
                free = free or holder
                continue
        kind = kind or facts.acquisition(one, info.class_name)
    return kind, free


def _takes_back(
    facts: CollectedFacts,
    methods: dict[str, FunctionInfo],
    kind: Kind,
    free: str,
    exclude: str,
) -> tuple[str, int] | None:
    """(method, index of its argument) for a public method that closes its argument as `kind`
    releases, or puts it back on the free list `free`."""
    for name, info in sorted(methods.items()):
        node = info.node
        if name == exclude or name.startswith("_") or not isinstance(node, cst.FunctionDef):
            continue
        params = info.params[1:]  # after `self`
        for index, param in enumerate(params):
            for call in info.calls:
                func = call.func
                args = [unwrap_value(a.value) for a in call.args]
                if (
                    free
                    and isinstance(func, cst.Attribute)
                    and func.attr.value in PUT
                    and dotted(func.value) == free
                    and args
                    and isinstance(args[0], cst.Name)
                    and args[0].value == param
                ):
                    return name, index
                released = facts.released_args(call, info.class_name, kind)
                if any(isinstance(a, cst.Name) and a.value == param for a in released):
                    return name, index
    return None
