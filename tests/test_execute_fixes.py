"""Every fix is executed: the original and the fixed code run against fake drivers (tests/fakes).

For each fixture with a fix (safe, and unsafe with `--unsafe-fixes`), each function the fix
changed is called with fake arguments, once on the normal path and once per use of a resource with
a failure injected at that use (an error; an error that the handlers' own calls meet again; and,
in a function with an `except`, an interrupt that passes `except Exception:`). Then:

- the fixed code never uses a resource after giving it back (the fakes raise on it);
- it does the same things in the same order as the original, apart from the releases it adds
  (and entering the `with` it introduces), and ends the same way (returns or raises the same);
- it never leaves more resources open than the original, on any path;
- it never holds more resources than the original while waiting on the outside world (a sleep,
  `queue.get()`, a websocket receive);
- over all paths, it gives back at least one resource the original left open, or holds fewer
  while waiting (LC402: released before the wait, not after it): the fix does fix.

A run that exceeds the call budget (a polling loop) is compared on the events it made.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import logging
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leakcheck.config.catalogue import builtin_kinds
from leakcheck.project.api import fix_file
from leakcheck.project.runner import Checker
from tests.fakes import (
    Exhausted,
    Fake,
    InjectedInterrupt,
    UseAfterRelease,
    World,
    dependencies,
    failed_call,
    finish_dependencies,
    load,
    per_iteration_events,
    sources,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if not p.name.endswith(".fixed.py"))
# What a fix may add to the events: releases (and a pool's own bookkeeping in them, the semaphore
# a `putconn` override releases), and entering the `with` it introduces.
ADDED = ("release: ", "__enter__", "release()")
MAX_FAILURES = 16
# The original used a context manager as if it were the resource (LC301): it fails with the real
# driver too, and the fix (entering it, unsafe) changes that on purpose.
MISUSED = "context manager used as the resource"


@dataclass
class Run:
    events: list[tuple[str, str]]
    outcome: str  # "returned", or the exception's class name
    open: list[str]
    uses: int
    waiting: list[int]  # resources open at each wait on the outside world


def changed_functions(old: str, new: str) -> list[str]:
    """Qualified names (`Class.method`) of the top-level functions and methods that differ."""

    def functions(source: str) -> dict[str, str]:
        out = {}
        for node in ast.parse(source).body:
            members = node.body if isinstance(node, ast.ClassDef) else [node]
            prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
            for member in members:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[prefix + member.name] = ast.dump(member)
        return out

    before, after = functions(old), functions(new)
    return sorted(name for name, dump in after.items() if before.get(name) != dump)


def _target(namespace: dict[str, Any], qualname: str) -> Any:
    owner, _, name = qualname.rpartition(".")
    if not owner:
        return namespace[qualname], None
    cls = namespace[owner]
    member = inspect.getattr_static(cls, name)
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, property):
        member = member.fget
    return member, cls


def instance(cls: type, world: World) -> Any:
    """An object of `cls` without running `__init__`: its methods are the real ones, its missing
    attributes (`self.pool`, set in `__init__`) are fakes."""

    def missing(self: Any, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = Fake(world, f"self.{name}")
        object.__setattr__(self, name, value)
        return value

    subclass = type(cls.__name__, (cls,), {"__getattr__": missing})
    return object.__new__(subclass)


def _drive(value: Any, stop_early: bool = False) -> Any:
    """Run what the call made: a coroutine to its end, a generator through (then closed), a
    context manager entered and left. `stop_early`: a generator is closed after its first item,
    as a consumer that stops reading (or a framework whose request failed) does."""
    if isinstance(value, types.CoroutineType):
        try:
            while True:
                value.send(None)
        except StopIteration as stop:
            return stop.value
    if isinstance(value, types.GeneratorType):
        with contextlib.closing(value):
            for _ in zip(range(1 if stop_early else 20), value, strict=False):
                pass
        return None
    if isinstance(value, types.AsyncGeneratorType):

        async def consume() -> None:
            count = 0
            async for _ in value:
                count += 1
                if count >= (1 if stop_early else 20):
                    break
            await value.aclose()

        return _drive(consume())
    if isinstance(value, contextlib.AbstractContextManager) and not isinstance(value, Fake):
        with value:
            return None
    if isinstance(value, contextlib.AbstractAsyncContextManager) and not isinstance(value, Fake):

        async def enter() -> None:
            async with value:
                pass

        return _drive(enter())
    return value


# Functions whose fixed path the fakes cannot reach, with why (checked for behaviour all the same).
UNREACHED = {
    "Storage.set_language": "`lang not in SUPPORTED_LANGUAGES`, a real set: a fake is never in it",
    "order_status_listener": (
        "`order is None` (a fake is never None): the `continue` that keeps the session in its "
        "transaction across the next message is not reached"
    ),
}
# Fixtures whose resources are objects of the project's own classes (issue 26: an owner class, a
# home-grown pool): the release runs the class's code (`checkin(conn)` appends to its own list;
# `close()` closes its cursor too), which the fakes do not record as a release. Their fixed code
# is run and compared all the same (same events, `close()` calls aside; same end; never more left
# open); only "some path now gives back more" cannot be observed.
PROJECT_OWNERS = ("owners/",)
# Fixtures whose resource comes through an object the fakes run as a stand-in that records calls
# (issue 27: a collaborator's factory method, `self.repo.sessions()`; a function run by
# `loop.run_in_executor`; a factory of another module of the project, `get_connection()` from
# `src.utils.db`): its `close()` and its `with` exit are not recorded as a release, so they are
# compared as the owners above are, the collaborator's own release (`give_back(conn)`) counted
# with `close()`.
OPAQUE_SOURCES = {
    "callables/collaborators.py": ("give_back()",),
    "callables/wrappers.py": (),
    "project/app/billing.py": (),
    "project_ns/src/transform/transform.py": (),
}
PER_ITERATION = "in each iteration of the loop"  # the titles of per_iteration.py's fixes
# Fixes known to change behaviour, with why: each is a bug to fix in the recipe, not in the test.
KNOWN: dict[str, str] = {}  # fixture label -> why its fix is known to change behaviour
Variant = tuple[bool, int | None]  # how fakes answer tests, and which `==` alone is true
VARIANTS: tuple[Variant, ...] = ((True, None), (False, None), (True, 1), (True, 2), (True, 3))


def run(
    source: str,
    filename: str,
    qualname: str,
    fail_at: int | None,
    variant: Variant,
    fail_after: bool = False,
    stop_early: bool = False,
    interrupt: bool = False,
) -> Run:
    builtin = {k.name for k in builtin_kinds()}
    kinds = [k for k in Checker().context(Path(filename)).kinds if k.name not in builtin]
    world = World(
        truth=variant[0],
        equal_at=variant[1],
        acquiring=frozenset(m for k in kinds for m in k.acquire_methods),
        releasing=frozenset(m for k in kinds for m in k.release_methods),
    )
    namespace = load(source, world, filename)
    world.events.clear()
    world.resources.clear()
    world.uses = 0
    world.waiting.clear()
    world.fail_at = fail_at  # not while the module loads
    world.fail_after = fail_after
    world.interrupt = interrupt
    world.comparisons = 0
    func, cls = _target(namespace, qualname)
    exits: list[Any] = []
    exiting = cls is not None and qualname.endswith(("__exit__", "__aexit__"))
    provided = {} if exiting else dependencies(func, exits, _drive)
    args: list[Any] = []
    for param in inspect.signature(func).parameters.values():
        if (
            param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
            or param.default is not param.empty
            or param.name in provided
        ):
            continue
        if param.kind is param.KEYWORD_ONLY:
            continue
        if param.name == "self" and cls is not None:
            args.append(instance(cls, world))
        else:
            args.append(cls if param.name == "cls" else Fake(world, f"arg.{param.name}"))
    kwargs = {
        p.name: Fake(world, f"arg.{p.name}")
        for p in inspect.signature(func).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    } | provided
    outcome = "returned"
    try:
        if exiting:
            # `__exit__` gives back what `__enter__` took: the class is used in a `with`.
            _drive(instance(cls, world))
        else:
            _drive(func(*args, **kwargs), stop_early)
        while world.pending:
            _drive(world.pending.pop(0), stop_early)
    except (Exception, UseAfterRelease, Exhausted, InjectedInterrupt) as error:
        outcome = type(error).__name__
        if isinstance(error, AttributeError) and "ContextManager' object" in str(error):
            outcome = MISUSED
    finally:
        finish_dependencies(exits, _drive)
    return Run(list(world.events), outcome, world.open(), world.uses, list(world.waiting))


def handles(source: str, qualname: str) -> bool:
    """Does the function (`Class.method`) have an `except` clause?"""
    for node in ast.parse(source).body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        for member in members:
            if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                prefix + member.name == qualname
            ):
                return any(isinstance(n, ast.ExceptHandler) for n in ast.walk(member))
    return False


def _essential(
    events: list[tuple[str, str]], owned: tuple[str, ...] | None = None
) -> list[tuple[str, str]]:
    skipped = (*ADDED, "close()", *owned) if owned is not None else ADDED
    return [(label, what) for label, what in events if not what.startswith(skipped)]


def compare(
    original: Run,
    fixed: Run,
    where: str,
    reacquires: bool = False,
    owned: tuple[str, ...] | None = None,
) -> int:
    """Check one path; how many resources the fix gave back that the original left open.
    `reacquires`: the fix takes a short-lived resource per iteration (LC401/LC402). `owned`: the
    resource is an object of the project that owns a connection (issue 26): the release the fix
    adds runs the class's own `close()`, which also closes what it derived (its cursor), so
    `close()` calls, and the calls `owned` names, count as part of the release (None: a resource
    the fakes model)."""
    assert fixed.outcome != "UseAfterRelease", f"{where}: the fixed code uses a released resource"
    if original.outcome == MISUSED:
        assert not fixed.open, f"{where}: the entered manager leaves {fixed.open} open"
        return 1 if fixed.events else 0
    old, new = _essential(original.events, owned), _essential(fixed.events, owned)
    if reacquires:
        # A short-lived resource per iteration (LC401/LC402): taken from where the original
        # took its one, and the same things done, each on the resource of its iteration.
        taken = sources(original.events)
        assert sources(fixed.events) <= taken, f"{where}: acquires from another source"
        old, new = per_iteration_events(old, taken), per_iteration_events(new, taken)
        if failed_call(old) != failed_call(new):
            return 0  # the calls that take each iteration's resource shift the failure's call
    # LC402: a resource given back before a wait on the outside world, not after it.
    held = list(zip(original.waiting, fixed.waiting, strict=False))
    assert all(f <= o for o, f in held), f"{where}: holds more while waiting"
    sooner = sum(o - f for o, f in held)
    if "Exhausted" in (original.outcome, fixed.outcome):
        length = min(len(old), len(new))
        assert old[:length] == new[:length], f"{where}: events differ"
        return sooner
    assert new == old, f"{where}: events differ"
    # A release after a loop that ran no iteration fails on its unbound name; the per-iteration
    # fix (unsafe, and it says so) takes that release, and the failure, away.
    unbound = (original.outcome, fixed.outcome) == ("UnboundLocalError", "returned")
    assert fixed.outcome == original.outcome or unbound, f"{where}: ends differently"
    assert len(fixed.open) <= len(original.open), f"{where}: leaves more open"
    return len(original.open) - len(fixed.open) + sooner


def settings_only(applied: list[str]) -> bool:
    """Only framework configuration: Django fixes (LC5xx: a `DATABASES` option, or
    `database_sync_to_async` in place of `sync_to_async`) and FastAPI dependency scopes (LC403,
    `Depends(get_db, scope="function")`). The release they bring is the framework's own (Django
    or Channels closing old connections around the call, FastAPI running the dependency's exit
    code when the handler returns), not code of the fixture the fake drivers could watch."""
    return all(label.startswith(("LC5", "LC403")) for label in applied)


def cases() -> Iterator[Any]:
    for path in FIXTURES:
        for unsafe in (False, True):
            outcome = fix_file(path, unsafe=unsafe)
            if not outcome.applied or settings_only(outcome.applied):
                continue
            if unsafe and outcome.source == fix_file(path).source:
                continue  # no unsafe fix besides the safe ones
            label = f"{path.relative_to(ROOT / 'fixtures')}-{'unsafe' if unsafe else 'safe'}"
            marks = [pytest.mark.xfail(reason=KNOWN[label], strict=True)] if label in KNOWN else []
            # A short-lived resource per iteration (LC401/LC402, per_iteration.py): the fixed
            # code acquires inside the loop, so its events are compared modulo acquisitions.
            again = any(PER_ITERATION in applied for applied in outcome.applied)
            yield pytest.param(path, outcome.source.decode(), again, id=label, marks=marks)


CASES = list(cases())


def test_every_fixture_with_a_fix_is_executed() -> None:
    snapshots = [
        p
        for p in (ROOT / "fixtures").rglob("*.fixed.py")
        if not p.name.endswith(".unsafe.fixed.py")
        and not settings_only(fix_file(p.with_name(p.name.replace(".fixed", ""))).applied)
    ]
    safe = [c for c in CASES if c.id.endswith("-safe")]
    assert len(safe) == len(snapshots)


@pytest.mark.parametrize(("path", "fixed", "again"), CASES)
def test_fixed_code_behaves_and_releases(path: Path, fixed: str, again: bool) -> None:
    logging.disable(logging.CRITICAL)
    original = path.read_text()
    # A FastAPI dependency scope (LC403) is the framework's to honour, not the fakes': functions
    # changed only by `scope="function"` are not run.
    scoped = ', scope="function"'
    names = changed_functions(original.replace(scoped, ""), fixed.replace(scoped, ""))
    assert names, "a fix that changes no function"
    fixture = path.relative_to(ROOT / "fixtures").as_posix()
    # The calls counted as part of the release besides `close()`, for an owned resource.
    owned = OPAQUE_SOURCES.get(fixture, () if fixture.startswith(PROJECT_OWNERS) else None)
    for name in names:
        gained = 0
        normals = {
            truth: (
                run(original, str(path), name, None, truth),
                run(fixed, str(path), name, None, truth),
            )
            for truth in VARIANTS
        }
        for truth in VARIANTS:
            where = f"{name}, tests answered {truth}"
            normal = normals[truth]
            gained += compare(*normal, f"{where}, normal path", again, owned)
            if truth[1] is not None:
                continue  # `match` cases: the normal path only
            # An interrupt (a BaseException) only differs from an error where a handler catches.
            modes = [(False, False), (True, False)] + [(False, True)] * handles(original, name)
            for fail_at in range(1, min(normal[0].uses, MAX_FAILURES) + 1):
                for after, interrupt in modes:
                    pair = (
                        run(original, str(path), name, fail_at, truth, after, interrupt=interrupt),
                        run(fixed, str(path), name, fail_at, truth, after, interrupt=interrupt),
                    )
                    kind = " (an interrupt)" if interrupt else ""
                    label = f"{where}, failure at call {fail_at}{'+' * after}{kind}"
                    gained += compare(*pair, label, again, owned)
        early = (
            run(original, str(path), name, None, VARIANTS[0], stop_early=True),
            run(fixed, str(path), name, None, VARIANTS[0], stop_early=True),
        )
        gained += compare(*early, f"{name}, a generator closed after its first item", again, owned)
        if name in UNREACHED:
            assert gained == 0, f"{name} is reached now: take it out of UNREACHED"
            continue
        if owned is not None:
            continue
        assert gained > 0, f"{name}: no path where the fix gives back what the original kept"
