"""Judge one acquisition: run the walker, pick the leak that best explains it, say how it escapes.

Verdict classes (`records.Escape`; rules map them to codes, per family):
  never          no path gives the resource back or hands it off
  exception      released on the normal path; an exception between acquire and release skips it
  early-exit     a return/break/continue/raise, a branch, or a swallowed error leaves it held
  finally-order  released in `finally`, after a statement in that `finally` that may raise
  yield          a generator yields it and releases it after the `yield`, outside `finally`
  overwritten    its last name is reassigned or deleted while it is held
  loop           the next loop iteration acquires again while the previous one is held
Exception paths are judged only when the scope releases the resource itself (it is the owner).
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts, releases_all_of
from leakcheck.analysis.effects import Context
from leakcheck.analysis.flow import Exit, Note, State, Status, Trace, Walker, header
from leakcheck.analysis.records import Escape, FunctionInfo, Origin, Part, Site, Verdict
from leakcheck.analysis.syntax import block_statements, call_text, children, dotted, source_of, walk
from leakcheck.checks import PREFERENCE

__all__ = [
    "ERROR_PATHS",
    "PRIORITY",
    "Part",
    "Verdict",
    "error_ends_the_run",
    "is_test_file",
    "judge",
    "last_statement",
    "named",
    "pytest_fixture",
    "pytest_test",
    "raising_text",
    "what_it_holds",
]

# Which escape wins when several apply to one acquisition: the registry's order of preference.
PRIORITY = tuple(Escape(rule.leak) for rule in PREFERENCE)


def judge(site: Site, facts: CollectedFacts) -> list[Verdict]:
    """The verdicts for one acquisition: how it leaks, if it does, and whether it is kept open
    across an await on the outside world. Empty when every path gives it back in time."""
    if site.binding.how == Origin.DISCARDED:
        return [
            Verdict(site, Escape.NEVER, None, ((" (the result of the call is discarded)", None),))
        ]
    if site.binding.how == Origin.PASSED:
        text = f" (passed straight to `{site.binding.name}()`, which only uses it)"
        return [Verdict(site, Escape.NEVER, None, ((text, None),))]
    if site.binding.how == Origin.LOST:
        text = " (only the result of a method called on it is kept: nothing refers to it)"
        return [Verdict(site, Escape.NEVER, None, ((text, None),))]
    info = facts.scopes[site.scope]
    name = site.binding.name
    assert name is not None
    if name in info.declared_global:
        return []
    if info is facts.module_info and name in facts.used_in_functions:
        return []  # a module global used by the module's functions: long-lived by design
    given = site.binding.how == Origin.PARAM
    managed = site.binding.how == Origin.WITH and site.kind.with_releases
    # A session the function manages with `with`, or is given by its framework, is its own:
    # passing it to a helper (`load(db)`) only lends it.
    owner = given or managed or _releases_it(facts, info, facts.alias_closure(info, name), site)
    body = (
        tuple(site.scope.body)
        if isinstance(site.scope, cst.Module)
        else block_statements(site.scope.body)
    )
    start = State(Status.HELD, frozenset({name})) if given else State(Status.NONE)
    trace = Walker(Context(site, facts), owner).run(body, start)
    found = []
    if not (given or managed):
        # Error paths are judged when the scope is known to own the resource until it releases
        # or explicitly hands it off (returns or stores it), and an error there does not end
        # the run anyway (`error_ends_the_run`).
        fixture = pytest_fixture(site.scope, facts)
        errors = (owner or trace.handed is not None) and not error_ends_the_run(
            site.scope, site.class_name, facts
        )
        leak = _classify(site, trace, owner, errors, body, fixture)
        if leak is not None:
            found.append(leak)
    if trace.waits:
        found.append(_held_across_await(site, trace.waits[0], facts))
    return found


def _held_across_await(site: Site, wait: cst.CSTNode, facts: CollectedFacts) -> Verdict:
    shown = wait.iter if isinstance(wait, cst.For) else wait
    text = (
        f"async for ... in {source_of(shown, 40)}"
        if isinstance(wait, cst.For)
        else source_of(shown, 50)
    )
    what = f"{site.kind.resource} `{site.binding.name}`" if site.binding.how == Origin.PARAM else ""
    how = (
        (
            f" is kept open across `{text}` on line {{line}} after being used: "
            f"{what_it_holds(site, facts)} while it waits",
            wait,
        ),
    )
    return Verdict(
        site, Escape.HELD_ACROSS_AWAIT, wait, how, "waits here", what=what, anchor=site.anchor
    )


def what_it_holds(site: Site, facts: CollectedFacts) -> str:
    """What a used resource keeps while it waits: the words depend on the kind.

    A session checks a pooled connection out with its transaction (SQLAlchemy autobegin); a pool
    connection holds a pool slot; a direct connection holds one of the server's connections
    (`max_connections`), or for SQLite the database file and any transaction's locks; one in
    autocommit mode (asyncpg and aiopg always, psycopg2 after `autocommit = True`, sqlite3 with
    `isolation_level=None`) holds no transaction.
    """
    kind = site.kind
    autocommit = _autocommit(site, facts)
    if kind.family == "pool":
        if autocommit:
            return "its pooled connection stays checked out (a pool slot, though no transaction)"
        return "its pooled connection (and any transaction it began) stays checked out"
    if not kind.direct:
        return "its transaction and pooled connection stay checked out"
    if "sqlite" in facts.qualify(site.call.func):
        if autocommit:
            return "it keeps the database file open (autocommit: no transaction, no pool slot)"
        return "it keeps the database file open (and any transaction it began, with its locks)"
    if autocommit:
        return (
            "it holds no transaction and no pool slot (autocommit, not pooled), but keeps one of "
            "the server's connections (`max_connections`) open"
        )
    return (
        "its open transaction and its own server connection (not pooled: one of the server's "
        "`max_connections`) stay held"
    )


def _autocommit(site: Site, facts: CollectedFacts) -> bool:
    """Is the resource in autocommit mode: by its driver, a keyword, or `x.autocommit = True`?"""
    if site.binding.how == Origin.PARAM:
        return False
    drivers = frozenset(v.split(".", 1)[0] for v in facts.imports.values())
    if site.kind.autocommits(facts.qualify(site.call.func), drivers):
        return True  # asyncpg and aiopg run each statement in its own transaction
    for arg in site.call.args:
        keyword = arg.keyword.value if arg.keyword is not None else None
        value = dotted(arg.value)
        if (keyword == "autocommit" and value == "True") or (
            keyword == "isolation_level" and value == "None"
        ):
            return True
    name = site.binding.name
    for node in walk(site.scope):
        if isinstance(node, cst.Assign) and dotted(node.value) == "True":
            for target in node.targets:
                if dotted(target.target) == f"{name}.autocommit":
                    return True
    return False


# The escapes that happen only when an error is raised (or thrown in at a `yield`): the ones
# `error_ends_the_run` exempts. Never-released, early exits, overwrites and loops are not.
ERROR_PATHS = frozenset({Escape.EXCEPTION, Escape.FINALLY_ORDER, Escape.YIELD})
# pytest's default `python_files` (`test_*.py`, `*_test.py`; pytest docs, "Changing naming
# conventions") and its per-directory plugin file, `conftest.py` (pytest docs, "conftest.py").
TEST_FILES = ("test_*.py", "*_test.py", "conftest.py")


def is_test_file(path: str) -> bool:
    """Is `path` (as the run names it; "" when unknown) a file of tests by its name
    (`TEST_FILES`)?"""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in TEST_FILES)


def error_ends_the_run(scope: cst.CSTNode, class_name: str | None, facts: CollectedFacts) -> bool:
    """The one exemption (docs/semantics.md, "Where the rules do not apply"): are error paths
    (`ERROR_PATHS`) left unjudged in `scope` (a function, or the module), because an error
    there ends the run anyway? True for module-level code (a script, or an import: the error
    ends it), a pytest test or hook (`pytest_test`), a pytest fixture (`pytest_fixture`), and
    any function or method of a test file (`is_test_file(facts.path)`: a helper, a method of a
    test class, a context-manager helper), which runs only inside a test. Never-released
    resources and early exits are judged everywhere."""
    if isinstance(scope, cst.Module):
        return True
    if pytest_test(scope, class_name) or pytest_fixture(scope, facts):
        return True
    return is_test_file(facts.path)


def pytest_fixture(scope: cst.CSTNode, facts: CollectedFacts) -> bool:
    """`@pytest.fixture` / `@pytest_asyncio.fixture` (also called: `@pytest.fixture(scope=...)`).

    pytest resumes a yield fixture with `next()` after the test, whatever its outcome: a test's
    error is never thrown in at the `yield` (pytest docs, "Yield fixtures"), so a release after
    the `yield` outside `finally` still runs.
    """
    if not isinstance(scope, cst.FunctionDef):
        return False
    for decorator in scope.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if facts.qualify(expr) in PYTEST_FIXTURES:
            return True
    return False


def pytest_test(scope: cst.CSTNode, class_name: str | None) -> bool:
    """A test pytest collects by name (a function `test_*`, a method `test_*` of a class `Test*`)
    or a hook (`pytest_*`); a `test_connection()` method of an ordinary class is not one."""
    if not isinstance(scope, cst.FunctionDef):
        return False
    name = scope.name.value
    if class_name is None:
        return name.startswith(("test_", "pytest_"))
    return class_name.startswith("Test") and name.startswith("test_")


PYTEST_FIXTURES = frozenset({"pytest.fixture", "pytest_asyncio.fixture"})


def _classify(
    site: Site,
    trace: Trace,
    owner: bool,
    errors: bool,
    body: tuple[cst.CSTNode, ...],
    fixture: bool = False,
) -> Verdict | None:
    held = [ex for ex in trace.exits if ex.state.status is Status.HELD and ex.kind != "break"]
    end = [s for s in trace.end if s.status is Status.HELD]
    if site.kind.lazy_checkout:  # a session not used yet has no connection to lose
        held = [ex for ex in held if ex.state.used]
        end = [s for s in end if s.used]
    if len(held) > 1 or len(end) > 1:
        # States travel in sets hashed by node identity: put them in source order, so that the
        # path a message names does not depend on where the nodes happen to sit in memory.
        order = _source_order(site.scope)
        held.sort(key=lambda ex: (order.get(id(ex.node), -1), _note_order(ex.state, order)))
        end.sort(key=lambda state: _note_order(state, order))
        # A branch both ways of which lead to the same escape explains nothing.
        held = [
            replace(ex, state=replace(ex.state, note=None))
            if _moot(ex.state.note, [o.state.note for o in held if o.node is ex.node])
            else ex
            for ex in held
        ]
        end = [
            replace(state, note=None) if _moot(state.note, [o.note for o in end]) else state
            for state in end
        ]
    last = last_statement(body) or site.call
    if not (owner or trace.moved) and not trace.released:
        if held or end or trace.rebound:
            leak = (
                Escape.OVERWRITTEN if any(r.loop is None for r in trace.rebound) else Escape.NEVER
            )
            if leak == Escape.OVERWRITTEN:
                return _rebound_verdict(site, trace)
            if site.binding.how == Origin.WITH and site.kind.with_note:
                return Verdict(site, Escape.NEVER, None, ((f": {site.kind.with_note}", None),))
            where = _first_escape(held, end, last, site)
            return Verdict(
                site,
                Escape.NEVER,
                where[1],
                ((" (still held ", None), *where[0], (")", None)),
                "still held here",
            )
        return None
    candidates: dict[Escape, Verdict] = {}
    if trace.rebound:
        verdict = _rebound_verdict(site, trace)
        candidates[verdict.leak] = verdict
    for state in end:
        candidates.setdefault(
            Escape.EARLY_EXIT,
            Verdict(
                site,
                Escape.EARLY_EXIT,
                last,
                (*_end(site, last), *_note(state.note)),
                "still held here",
            ),
        )
    for ex in held:
        leak = _exit_class(ex)
        if leak in (Escape.EXCEPTION, Escape.FINALLY_ORDER, Escape.YIELD) and not errors:
            continue
        if fixture and ex.at_yield:
            continue  # pytest never throws a test's error into a fixture
        note = ex.state.note
        if leak != Escape.EARLY_EXIT and note is not None and note.kind == "caught":
            note = None  # the exit already names the error
        label = {
            Escape.EXCEPTION: "if this raises",
            Escape.FINALLY_ORDER: "if this raises",
            Escape.YIELD: "an error thrown in here skips the release",
        }.get(leak, "leaves here")
        if ex.explicit:
            label = "leaves here"
        elif ex.cancelled:
            label = "if the task is cancelled here"
        how = (*_exit(ex), *_note(note))
        if leak == Escape.EXCEPTION and not owner and trace.handed is not None:
            what = "releases it" if trace.handed_back else "hands it over"
            how = (*how, (f", before line {{line}} {what}", trace.handed))
        # The frame points at the statement the message names (the error's cause when a
        # handler passed it on), not at the handler's statement.
        candidates.setdefault(leak, Verdict(site, leak, named(how, ex.node), how, label))
    for leak in PRIORITY:
        if leak in candidates:
            return candidates[leak]
    return None


def _releases_it(
    facts: CollectedFacts, info: FunctionInfo, names: frozenset[str], site: Site
) -> bool:
    """Does the scope release what `site` acquires somewhere it can reach (is it the owner)? A
    release after the acquisition in source order, or inside a loop around it (the next
    iteration reaches it); one before it, outside such a loop, released an earlier acquisition
    into the same name (pgAdmin's `connection` closed, then acquired again in a loop and passed
    to a helper): it says nothing of this one."""
    calls = facts.release_calls(info, names, site.kind)
    calls += [call for call in info.calls if releases_all_of(call, site)]  # `pool.closeall()`
    if not calls:
        return facts.releases_in_loops(info, names, site.kind)
    order = _source_order(site.scope)
    at = order.get(id(site.call), -1)
    if any(order.get(id(call), -1) > at for call in calls):
        return True
    for loop in walk(site.scope):
        if isinstance(loop, (cst.For, cst.While)):
            inside = {id(node) for node in walk(loop)}
            if id(site.call) in inside and any(id(call) in inside for call in calls):
                return True
    return facts.releases_in_loops(info, names, site.kind)


def _source_order(scope: cst.CSTNode) -> dict[int, int]:
    """Each node of `scope` (by identity) -> its rank in a preorder walk (source order)."""
    order: dict[int, int] = {}
    stack = [scope]
    while stack:
        node = stack.pop()
        order[id(node)] = len(order)
        kids = children(node)
        kids.reverse()
        stack.extend(kids)
    return order


def _note_order(state: State, order: dict[int, int]) -> tuple[int, int, str]:
    note = state.note
    if note is None:
        return (-1, -1, "")
    cause = note.cause if note.cause is not None else note.node
    return (order.get(id(cause), -1), order.get(id(note.node), -1), note.kind)


def _moot(note: Note | None, others: list[Note | None]) -> bool:
    """Whether `note`, an `if` taken one way, is moot: among `others` (the notes of the paths
    that escape the same way) one took it the other way, or went through its other branch
    (`if A: ... elif B: ...; return`: every branch reaches the `return`)."""
    if (
        note is None
        or note.kind not in ("if-true", "if-false")
        or not isinstance(note.node, cst.If)
    ):
        return False
    opposite = "if-false" if note.kind == "if-true" else "if-true"
    branch = note.node.orelse if note.kind == "if-true" else note.node.body
    inside = {id(n) for n in walk(branch)} if branch is not None else set()
    return any(
        other is not None
        and ((other.node is note.node and other.kind == opposite) or id(other.node) in inside)
        for other in others
    )


def _rebound_verdict(site: Site, trace: Trace) -> Verdict:
    lost = trace.rebound[0]
    if lost.loop is not None:
        return Verdict(
            site,
            Escape.LOOP,
            lost.loop,
            ((" before the loop on line {line} acquires the next one", lost.loop),),
            "the next iteration acquires again",
        )
    if isinstance(lost.node, cst.Del):
        return Verdict(
            site,
            Escape.OVERWRITTEN,
            lost.node,
            ((f" before `del {lost.name}` on line {{line}} drops it", lost.node),),
            "dropped here",
        )
    return Verdict(
        site,
        Escape.OVERWRITTEN,
        lost.node,
        ((f" before `{lost.name}` is reassigned on line {{line}}", lost.node),),
        "reassigned here",
    )


def _exit_class(ex: Exit) -> Escape:
    if ex.kind == "raise" and not ex.explicit:
        if ex.in_finally:
            return Escape.FINALLY_ORDER
        if ex.at_yield:
            return Escape.YIELD  # thrown into the generator at the `yield`
        return Escape.EXCEPTION
    return Escape.EARLY_EXIT  # also `raise HTTPException(409)` in a handler: a deliberate way out


def _first_escape(
    held: list[Exit], end: list[State], last: cst.CSTNode, site: Site
) -> tuple[tuple[Part, ...], cst.CSTNode | None]:
    for ex in held:
        if ex.kind == "return" or (ex.kind == "raise" and ex.explicit):
            return _exit(ex, prefix=""), ex.node
    if end:
        return _end(site, last, prefix=""), last
    if held:
        parts = _exit(held[0], prefix="")
        return parts, named(parts, held[0].node)
    return (), None


def named(how: tuple[Part, ...], default: cst.CSTNode) -> cst.CSTNode:
    """The statement the first `on line N` of an explanation names, else `default`."""
    return next((node for text, node in how if node is not None and "{line}" in text), default)


def _end(site: Site, last: cst.CSTNode, prefix: str = " ") -> tuple[Part, ...]:
    if isinstance(site.scope, cst.Module):
        return ((f"{prefix}at the end of the module (line {{line}})", last),)
    return ((f"{prefix}when `{site.scope.name.value}()` ends after line {{line}}", last),)


def _exit(ex: Exit, prefix: str = " ") -> tuple[Part, ...]:
    if ex.kind == "return":
        return ((f"{prefix}at the `return` on line {{line}}", ex.node),)
    if ex.kind == "continue":
        return ((f"{prefix}at the `continue` on line {{line}}", ex.node),)
    if ex.kind == "raise" and ex.explicit:
        return ((f"{prefix}at the `raise` on line {{line}}", ex.node),)
    node = ex.node
    note = ex.state.note
    if note is not None and note.kind == "caught":
        # Raised again, or by a statement of the handler (a logging call): the error that took
        # this path is the one to explain.
        node = note.cause or note.node
    if ex.at_yield:
        return (
            (
                f"{prefix}if the code it is yielded to raises at the `yield` on line {{line}} "
                "(the release after it is not in `finally`)",
                node,
            ),
        )
    verb = "if" if prefix else "when"
    if ex.cancelled:
        return (
            (
                f"{prefix}{verb} the task is cancelled at `{raising_text(node)}` on line {{line}} "
                "(`asyncio.CancelledError` is a `BaseException`: `except Exception` does not "
                "catch it)",
                node,
            ),
        )
    what = "raises"
    if ex.uncaught:
        what = "raises an error other than " + " or ".join(f"`{t}`" for t in ex.uncaught)
    return ((f"{prefix}{verb} `{raising_text(node)}` on line {{line}} {what}", node),)


def _note(note: Note | None) -> tuple[Part, ...]:
    if note is None:
        return ()
    if note.kind in ("if-true", "if-false") and isinstance(note.node, cst.If):
        test = source_of(note.node.test, 40)
        value = "true" if note.kind == "if-true" else "false"
        return ((f", when `{test}` on line {{line}} is {value}", note.node),)
    if note.kind == "break":
        return ((", after the `break` on line {line}", note.node),)
    if note.kind == "try-ok":
        return (
            (
                ", when the `try` on line {line} raises nothing "
                "(it is released only when an error is handled)",
                note.node,
            ),
        )
    if note.kind in ("except", "caught"):
        cause = note.cause or note.node
        return (
            (f", after an error from `{raising_text(cause)}` on line {{line}} is handled", cause),
        )
    return ()


def last_statement(stmts: tuple[cst.CSTNode, ...]) -> cst.CSTNode | None:
    """The statement that ends a block in the source: where a scope "ends" for a reader."""
    if not stmts:
        return None
    last = stmts[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return last.body[-1]
    inner: tuple[cst.CSTNode, ...] = ()
    if isinstance(last, (cst.Try, cst.TryStar)):
        tail = last.finalbody or last.orelse or (last.handlers[-1] if last.handlers else None)
        inner = block_statements(tail.body if tail is not None else last.body)
    elif isinstance(last, cst.If):
        tail_if: cst.If | cst.Else = last
        while isinstance(tail_if, cst.If) and tail_if.orelse is not None:
            tail_if = tail_if.orelse
        inner = block_statements(tail_if.body)
    elif isinstance(last, (cst.For, cst.While)):
        inner = block_statements((last.orelse or last).body)
    elif isinstance(last, cst.With):
        inner = block_statements(last.body)
    elif isinstance(last, cst.Match) and last.cases:
        inner = block_statements(last.cases[-1].body)
    return last_statement(inner) or last


def raising_text(node: cst.CSTNode) -> str:
    """What a reader would call the raising part of a statement: its first call, or the code."""
    part = header(node)
    if part is None:
        return source_of(node)
    for sub in walk(part):
        if isinstance(sub, cst.Call):
            return call_text(sub)
    return source_of(part)
