"""Follow one acquired resource through the control flow of its scope.

The walker is an abstract interpreter over statements. A path's state says whether the resource is
not yet acquired, held (under which names), or done with (released or handed off). Each block yields
the states that fall through and the exits that leave it (return, raise, break, continue); compound
statements route those exits the way Python does (handlers, `finally`, loop heads, `with` exits).
A held state that leaves the scope is a leak; so is a held resource whose last name is rebound.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace
from enum import Enum

import libcst as cst

from leakcheck.analysis.effects import (
    SUPPRESS,
    Context,
    Effect,
    catches_cancellation,
    catches_everything,
    for_target_effect,
    header_effect,
    is_site_value,
    small_effect,
    truth_when_held,
)
from leakcheck.analysis.guards import Known, assign, flag_truth, learn, tested_flags
from leakcheck.analysis.raising import starts_fresh
from leakcheck.analysis.records import Origin
from leakcheck.analysis.syntax import (
    block_statements,
    bound_names,
    dotted,
    source_of,
    unwrap_value,
    walk,
)
from leakcheck.analysis.waits import unbounded_iteration

MAX_STATES = 64

# Why a resource passed on to code the check does not read counts as handed over.
_UNSEEN = "passed to code leakcheck does not see, which may keep or release it"
_UNSEEN_RETURNED = (
    "passed to code leakcheck does not see, and its result is returned, which may be the "
    "resource itself"
)


@dataclass(frozen=True)
class Assumed:
    """An acquisition taken as handed over to code the check does not see, so its function went
    silent: `call` acquired, `taken_by` is the statement that took the resource (None where
    nothing in the function did, as for a store whose closing hook sits in another module), and
    `why` says in a few words why it counts as handed over. `anchor`: where the resource comes
    from when `call` is not in the tree (a parameter: `Site.anchor`)."""

    call: cst.Call
    taken_by: cst.CSTNode | None
    why: str
    anchor: cst.CSTNode | None = None


# Per module: the acquiring calls (by identity) whose resource the walker took as handed over to
# code it cannot see (`process(conn)` in a function that never releases it): the function went
# silent on that assumption. Weakly keyed: an entry goes with the module's facts.
_ASSUMED: weakref.WeakKeyDictionary[object, dict[int, Assumed]] = weakref.WeakKeyDictionary()


def handoffs_assumed(facts: object) -> list[Assumed]:
    """The acquisitions of the module (`facts`, once judged) taken as handed off to unknown code,
    in source order of their first recording; empty before judging. The run's summary counts
    them ("hand-offs assumed") and `--show-handoffs` lists them."""
    return list(_ASSUMED.get(facts, {}).values())


def assume_handoff(
    facts: object,
    call: cst.Call,
    taken_by: cst.CSTNode | None = None,
    why: str = "",
    anchor: cst.CSTNode | None = None,
) -> None:
    """Record the acquisition `call` of the module (`facts`) as taken for handed off to code the
    check does not see (`handoffs_assumed`): the first statement that took it is kept."""
    _ASSUMED.setdefault(facts, {}).setdefault(id(call), Assumed(call, taken_by, why, anchor))


class Status(Enum):
    NONE = "none"  # not acquired on this path (yet)
    HELD = "held"
    DONE = "done"  # released or handed off


@dataclass(frozen=True)
class Note:
    """The last branch decision that matters for why a held path leaks."""

    kind: str  # "if-true" | "if-false" | "break" | "except" | "try-ok" | "caught"
    node: cst.CSTNode
    cause: cst.CSTNode | None = None  # for "caught"/"except": the statement that raised


@dataclass(frozen=True)
class State:
    status: Status
    aliases: frozenset[str] = frozenset()
    note: Note | None = None
    dirty: bool = False  # used since its transaction last ended (commit, rollback, acquire)
    fresh: bool = False  # a direct connection that has done no I/O yet (see raising.py)
    known: Known = frozenset()  # flags whose value this path knows (see guards.py)
    used: bool = False  # used at all since acquired (a lazy session holds nothing before)

    @property
    def fresh_names(self) -> frozenset[str]:
        return self.aliases if self.fresh else frozenset()


NONE = State(Status.NONE)
DONE = State(Status.DONE)


@dataclass(frozen=True)
class Exit:
    """A way out of a block: `kind` is return/raise/break/continue; `node` the statement."""

    kind: str
    state: State
    node: cst.CSTNode
    explicit: bool = False  # a `raise` statement rather than a statement that may raise
    in_finally: bool = False  # raised by a statement in a `finally` that releases the resource
    uncaught: tuple[str, ...] = ()  # handler types it got past (`except ValueError:`)
    at_yield: bool = False  # thrown into a generator at a `yield`
    cancelled: bool = False  # `asyncio.CancelledError` at an await, past `except Exception`


@dataclass
class Flow:
    normal: set[State]
    exits: list[Exit] = field(default_factory=list)


@dataclass(frozen=True)
class Rebound:
    """The held resource lost its last name: reassigned, deleted, or acquired again in a loop."""

    node: cst.CSTNode
    name: str
    loop: cst.CSTNode | None  # the loop whose next iteration acquires again


@dataclass
class Trace:
    """Everything the walker learnt about one site."""

    exits: list[Exit]
    end: set[State]
    rebound: list[Rebound]
    released: bool
    moved: bool
    handed: cst.CSTNode | None  # where it is first handed off explicitly (returned, stored)
    waits: list[cst.CSTNode]  # awaits on the outside world reached while held after a use
    handed_back: bool = False  # `handed` is a call of a release helper (`close_conn(conn)`)


class Walker:
    def __init__(self, ctx: Context, owner: bool) -> None:
        self.ctx = ctx
        self.owner = owner
        self.rebound: list[Rebound] = []
        self.released = False
        self.moved = False
        self.handed: cst.CSTNode | None = None
        self.handed_back = False  # the first hand-off is to a callee that releases it
        self._closes = "close" in ctx.kind.self_release_methods
        self.waits: list[cst.CSTNode] = []
        self._loops: list[cst.CSTNode] = []
        self._finally_releases: list[bool] = []
        self._seen_rebound: set[int] = set()
        self._flags = tested_flags(ctx.site.scope)
        scope = ctx.site.scope
        self._asynchronous = isinstance(scope, cst.FunctionDef) and scope.asynchronous is not None

    def run(self, body: tuple[cst.CSTNode, ...], start: State = NONE) -> Trace:
        flow = self.block(body, {start})
        return Trace(
            flow.exits,
            flow.normal,
            self.rebound,
            self.released,
            self.moved,
            self.handed,
            self.waits,
            self.handed_back,
        )

    # -- blocks ---------------------------------------------------------------------------------

    def block(self, stmts: tuple[cst.CSTNode, ...], states: set[State]) -> Flow:
        exits: list[Exit] = []
        seen: set[tuple[object, ...]] = set()
        normal = states
        for stmt in stmts:
            if not normal:
                break
            flow = self.statement(stmt, normal)
            for ex in flow.exits:
                _add_exit(exits, seen, ex)
            normal = _cap(flow.normal)
        return Flow(normal, exits)

    def statement(self, stmt: cst.CSTNode, states: set[State]) -> Flow:
        if isinstance(stmt, cst.SimpleStatementLine):
            return self.block(tuple(stmt.body), states)
        if isinstance(stmt, cst.BaseSmallStatement):
            return self.small(stmt, states)
        if isinstance(stmt, cst.If):
            return self.if_(stmt, states)
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, states)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return self.try_(stmt, states)
        if isinstance(stmt, cst.With):
            return self.with_(stmt, states)
        if isinstance(stmt, cst.Match):
            return self.match(stmt, states)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return self.definition(stmt, states)
        return Flow(set(states))

    # -- simple statements ---------------------------------------------------------------------

    def small(self, stmt: cst.BaseSmallStatement, states: set[State]) -> Flow:
        out = Flow(set())
        for state in states:
            eff = small_effect(stmt, state.aliases, self.ctx, state.fresh_names)
            after = self.apply(stmt, state, eff, _acquired_name(stmt, self.ctx))
            if self._flags and after.status is not Status.DONE:
                known = assign(stmt, after.known, self._flags)
                if known != after.known:
                    after = replace(after, known=known)
            self._emit(out, stmt, state, after, eff)
        return out

    def apply(self, node: cst.CSTNode, state: State, eff: Effect, target: str | None) -> State:
        """The state after a statement's effect, recording releases, hand-offs and lost names."""
        if state.status is Status.HELD:
            self._wait(state, eff.waits, eff.waits_in_loop_only)
            dirty = (state.dirty or eff.uses) and not eff.resets
            if dirty != state.dirty:
                state = replace(state, dirty=dirty)
            if eff.uses and not state.used:
                state = replace(state, used=True)
            if state.fresh and eff.io:
                state = replace(state, fresh=False)
            if eff.released:
                self.released = True
                state = DONE
            elif eff.moved or (eff.escaped and not self.owner):
                self.moved = True
                # (a scope that releases it itself on other paths assumed nothing: `try: return
                # process(conn)` / `finally: pool.putconn(conn)`)
                if not eff.moved or (eff.assumed and not self.owner):
                    why = _UNSEEN_RETURNED if eff.assumed else _UNSEEN
                    site = self.ctx.site
                    assume_handoff(self.ctx.facts, site.call, node, why, site.anchor)
                if eff.moved and self.handed is None and not eff.to_module:
                    self.handed = node
                    self.handed_back = eff.gives_back
                state = DONE
            else:
                aliases = (state.aliases | eff.add) - eff.drop
                if not aliases:
                    self._lost(node, state, eff)
                    state = DONE
                elif aliases != state.aliases:
                    state = replace(state, aliases=aliases)
        if eff.acquires and target is not None:
            if state.status is Status.HELD and self.ctx.site.binding.how == Origin.COLLECTION:
                return state  # one more in the same list
            if state.status is Status.HELD:
                # Acquiring into a name that still holds it (other aliases keep the old one alive).
                aliases = state.aliases - {target}
                if not aliases:
                    self._lost(node, state, eff)
            return State(
                Status.HELD,
                frozenset({target}),
                fresh=starts_fresh(self.ctx.kind),
                known=state.known,
            )
        return state

    def _wait(self, state: State, wait: cst.CSTNode | None, in_loop_only: bool) -> None:
        """A used session kept across an await on the outside world (the rule of
        `checks.session_held_across_await`)."""
        if (
            wait is not None
            and state.dirty
            and (self._loops or not in_loop_only)
            and all(w is not wait for w in self.waits)
        ):
            self.waits.append(wait)

    def _lost(self, node: cst.CSTNode, state: State, eff: Effect) -> None:
        if id(node) in self._seen_rebound:
            return
        self._seen_rebound.add(id(node))
        name = next(iter(sorted(state.aliases)))
        loop = self._loops[-1] if eff.acquires and self._loops else None
        self.rebound.append(Rebound(node, name, loop))

    def _emit(self, out: Flow, stmt: cst.CSTNode, before: State, after: State, eff: Effect) -> None:
        if eff.raises and eff.leaves != "raise":
            raised = before_or_done(before, after, eff)
            if eff.uses and raised.status is Status.HELD and not raised.used:
                raised = replace(raised, used=True)  # its first query failed: it checked out
            out.exits.append(self._raise(stmt, raised))
        if eff.leaves == "raise":
            out.exits.append(replace(self._raise(stmt, after), explicit=True))
        elif eff.leaves is not None:
            out.exits.append(Exit(eff.leaves, after, stmt))
        else:
            out.normal.add(after)

    def _raise(self, stmt: cst.CSTNode, state: State) -> Exit:
        return Exit(
            "raise", state, stmt, in_finally=any(self._finally_releases), at_yield=yields(stmt)
        )

    def definition(self, stmt: cst.FunctionDef | cst.ClassDef, states: set[State]) -> Flow:
        out = Flow(set())
        for state in states:
            eff = header_effect(stmt, state.aliases, self.ctx) if state.aliases else Effect()
            eff.raises = bool(stmt.decorators) or (
                isinstance(stmt, cst.ClassDef) and bool(stmt.bases)
            )
            self._emit(out, stmt, state, self.apply(stmt, state, eff, None), eff)
        return out

    def _header(
        self, node: cst.CSTNode, expr: cst.CSTNode | None, states: set[State]
    ) -> tuple[set[State], list[Exit]]:
        """Evaluate a compound statement's header expression in every state."""
        normal: set[State] = set()
        exits: list[Exit] = []
        for state in states:
            eff = header_effect(expr, state.aliases, self.ctx, state.fresh_names)
            after = self.apply(node, state, eff, None)
            if eff.raises:
                exits.append(self._raise(node, before_or_done(state, after, eff)))
            normal.add(after)
        return normal, exits

    # -- if / match ----------------------------------------------------------------------------

    def if_(self, node: cst.If, states: set[State]) -> Flow:
        normal, exits = self._header(node, node.test, states)
        then_in: set[State] = set()
        else_in: set[State] = set()
        for state in normal:
            truth = (
                truth_when_held(node.test, state.aliases, self._closes)
                if state.status is Status.HELD
                else None
            )
            if truth is None:
                truth = flag_truth(node.test, state.known)
            if truth is not False:
                then_in.add(self._learn(node.test, state, True))
            if truth is not True:
                else_in.add(self._learn(node.test, state, False))
        then = self.block(block_statements(node.body), then_in) if then_in else Flow(set())
        if isinstance(node.orelse, cst.If):
            other = self.if_(node.orelse, else_in) if else_in else Flow(set())
        elif isinstance(node.orelse, cst.Else):
            other = self.block(block_statements(node.orelse.body), else_in)
        else:
            other = Flow(else_in)
        then_normal, other_normal = then.normal, other.normal
        if _releases(other_normal):
            then_normal = _tag(then_normal, Note("if-true", node))
        if _releases(then_normal):
            other_normal = _tag(other_normal, Note("if-false", node))
        return Flow(then_normal | other_normal, exits + then.exits + other.exits)

    def _learn(self, test: cst.BaseExpression, state: State, taken: bool) -> State:
        if not self._flags or state.status is Status.DONE:
            return state
        known = learn(test, state.known, taken, self._flags)
        return state if known == state.known else replace(state, known=known)

    def match(self, node: cst.Match, states: set[State]) -> Flow:
        normal, exits = self._header(node, node.subject, states)
        out: set[State] = set()
        exhaustive = False
        for case in node.cases:
            case_in = normal
            if case.guard is not None:
                case_in, guard_exits = self._header(case, case.guard, normal)
                exits += guard_exits
            flow = self.block(block_statements(case.body), case_in)
            out |= flow.normal
            exits += flow.exits
            if (
                case.guard is None
                and isinstance(case.pattern, cst.MatchAs)
                and case.pattern.pattern is None
            ):
                exhaustive = True
        if not exhaustive:
            out |= normal
        return Flow(out, exits)

    # -- loops -----------------------------------------------------------------------------------

    def loop(self, node: cst.For | cst.While, states: set[State]) -> Flow:
        exits: list[Exit] = []
        infinite = False
        if isinstance(node, cst.For):
            head, exits = self._header(node, node.iter, states)
            head = {self._releases_each(node, s) for s in head}
        else:
            head = set(states)
            infinite = _always_true(node.test)
        seen: set[State] = set()
        breaks: list[Exit] = []
        frontier = head
        exit_keys: set[tuple[object, ...]] = set()
        self._loops.append(node)
        try:
            while frontier - seen:
                fresh = _cap(frontier - seen)
                seen |= fresh
                entry = fresh
                if isinstance(node, cst.For):
                    entry = self._for_target(node, fresh)
                else:
                    entry, test_exits = self._header(node, node.test, fresh)
                    for ex in test_exits:
                        _add_exit(exits, exit_keys, ex)
                body = self.block(block_statements(node.body), entry)
                frontier = set(body.normal)
                for ex in body.exits:
                    if ex.kind == "break":
                        breaks.append(ex)
                    elif ex.kind == "continue":
                        frontier.add(ex.state)
                    else:
                        _add_exit(exits, exit_keys, ex)
        finally:
            self._loops.pop()
        ended = set() if infinite else seen
        if node.orelse is not None:
            tail = self.block(block_statements(node.orelse.body), ended)
            exits += tail.exits
            ended = tail.normal
        out = set(ended)
        exhausted_releases = _releases(ended)
        for ex in breaks:
            state = ex.state
            if exhausted_releases and state.status is Status.HELD:
                state = replace(state, note=Note("break", ex.node))
            out.add(state)
        return Flow(out, exits)

    def _releases_each(self, node: cst.For, state: State) -> State:
        """`for conn in conns: pool.putconn(conn)` gives back a list of resources (ownership.py)."""
        if (
            state.status is Status.HELD
            and self.ctx.site.binding.how == Origin.COLLECTION
            and self.ctx.facts.releases_elements(
                node, state.aliases, self.ctx.facts.scopes[self.ctx.site.scope], self.ctx.kind
            )
        ):
            self.released = True
            return DONE
        return state

    def _for_target(self, node: cst.For, states: set[State]) -> set[State]:
        out = set()
        for state in states:
            eff = for_target_effect(node.target, state.aliases, self.ctx)
            if (
                node.asynchronous is not None
                and state.status is Status.HELD
                and unbounded_iteration(node.iter)
            ):
                self._wait(state, node, False)  # each step waits for the next message
            out.add(self.apply(node, state, eff, None))
        return out

    # -- try -------------------------------------------------------------------------------------

    def try_(self, node: cst.Try | cst.TryStar, states: set[State]) -> Flow:
        body = self.block(block_statements(node.body), states)
        raised = [ex for ex in body.exits if ex.kind == "raise" and not ex.cancelled]
        exits = [ex for ex in body.exits if ex.kind != "raise"]
        # Cancellation (a BaseException since Python 3.8) passes `except Exception:`.
        cancelled = [ex for ex in body.exits if ex.cancelled]
        if any(catches_cancellation(h) for h in node.handlers):
            raised += [replace(ex, cancelled=False) for ex in cancelled]
        else:
            exits += cancelled
            if self._asynchronous and node.handlers:
                exits += [replace(ex, cancelled=True) for ex in raised if awaits(ex.node)]
        caught: set[State] = set()
        for ex in raised:
            state = ex.state
            if state.status is Status.HELD:
                state = replace(state, note=Note("caught", ex.node, _cause(ex)))
            caught.add(state)
        handled: set[State] = set()
        everything = False
        for handler in node.handlers:
            everything = everything or catches_everything(handler)
            flow = self.block(block_statements(handler.body), caught) if caught else Flow(set())
            handled |= flow.normal
            exits += [_reraise(ex) for ex in flow.exits]
        if not node.handlers or not everything:
            types = tuple(source_of(h.type, 30) for h in node.handlers if h.type is not None)
            exits += [replace(ex, uncaught=ex.uncaught or types) for ex in raised]
        ok = body.normal
        if node.orelse is not None:
            tail = self.block(block_statements(node.orelse.body), ok)
            ok = tail.normal
            exits += tail.exits
        if _releases(handled):
            ok = _tag(ok, Note("try-ok", node))
        if _releases(ok):
            handled = {_except_note(s) for s in handled}
        else:
            handled = {
                replace(s, note=None) if s.note and s.note.kind == "caught" else s for s in handled
            }
        normal = ok | handled
        if node.finalbody is None:
            return Flow(normal, exits)
        return self._finally(node.finalbody, normal, exits)

    def _finally(self, final: cst.Finally, normal: set[State], pending: list[Exit]) -> Flow:
        stmts = block_statements(final.body)
        releases = self._mentions_release(final)
        results: dict[State, Flow] = {}

        def through(state: State) -> Flow:
            if state not in results:
                self._finally_releases.append(releases)
                try:
                    results[state] = self.block(stmts, {state})
                finally:
                    self._finally_releases.pop()
            return results[state]

        out = Flow(set())
        keys: set[tuple[object, ...]] = set()
        for state in normal:
            flow = through(state)
            out.normal |= flow.normal
            for ex in flow.exits:
                _add_exit(out.exits, keys, ex)
        for ex in pending:
            flow = through(ex.state)
            for state in flow.normal:
                _add_exit(out.exits, keys, replace(ex, state=state))
            for inner in flow.exits:
                _add_exit(out.exits, keys, inner)
        return out

    def _mentions_release(self, node: cst.CSTNode) -> bool:
        facts, site = self.ctx.facts, self.ctx.site
        return any(
            isinstance(n, cst.Call) and facts.released_args(n, site.class_name, site.kind)
            for n in walk(node)
        )

    # -- with ------------------------------------------------------------------------------------

    def with_(self, node: cst.With, states: set[State]) -> Flow:
        exits: list[Exit] = []
        entered: set[State] = set()
        managed: set[str] = set()
        suppresses = False
        for state in states:
            eff = Effect()
            names: set[str] = set()
            for item in node.items:
                inner = unwrap_value(item.item)
                if isinstance(inner, cst.Call) and (
                    self.ctx.facts.qualify(inner.func) in SUPPRESS or dotted(inner.func) in SUPPRESS
                ):
                    suppresses = True
                held = state.aliases
                if (
                    isinstance(inner, cst.Name)
                    and inner.value in held
                    and self.ctx.kind.with_releases
                ):
                    names.add(inner.value)  # `conn = pymysql.connect(); with conn:` closes it
                    continue
                if (
                    isinstance(inner, cst.Call)
                    and self.ctx.is_closing(inner)
                    and inner.args
                    and isinstance(inner.args[0].value, cst.Name)
                    and inner.args[0].value.value in held
                ):
                    names.add(inner.args[0].value.value)
                    continue
                part = header_effect(item.item, held, self.ctx)
                eff.raises |= part.raises
                eff.released |= part.released
                eff.moved |= part.moved
                eff.escaped |= part.escaped
                if item.asname is not None:
                    eff.drop |= bound_names(item.asname.name) & held
                if is_site_value(item.item, self.ctx.site):
                    eff.acquires = True
                    if self.ctx.kind.with_releases and self.ctx.site.binding.name:
                        names.add(self.ctx.site.binding.name)  # `with SessionLocal() as db:`
            target = self.ctx.site.binding.name if eff.acquires else None
            after = self.apply(node, state, eff, target)
            if eff.raises:
                exits.append(self._raise(node, before_or_done(state, after, eff)))
            entered.add(after)
            if after.status is Status.HELD:
                managed |= names
        body = self.block(block_statements(node.body), entered)

        def leave(state: State) -> State:
            if state.status is Status.HELD and state.aliases & managed:
                self.released = True
                return DONE
            return state

        normal = {leave(s) for s in body.normal}
        for ex in body.exits:
            ex = replace(ex, state=leave(ex.state))
            if suppresses and ex.kind == "raise":
                normal.add(ex.state)  # `with suppress(...)`: the error ends the block only
            else:
                exits.append(ex)
        return Flow(normal, exits)


def header(node: cst.CSTNode) -> cst.CSTNode | None:
    """The part of a statement that runs before its body: an `if` test, a `for` iterable."""
    if isinstance(node, (cst.If, cst.While)):
        return node.test
    if isinstance(node, cst.For):
        return node.iter
    if isinstance(node, cst.With):
        return node.items[0]
    if isinstance(node, cst.Match):
        return node.subject
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return node.decorators[0] if node.decorators else None
    return node


def awaits(node: cst.CSTNode) -> bool:
    """Can the task be cancelled while it runs this statement (an `await`, `async for/with`)?"""
    if isinstance(node, (cst.For, cst.With)) and node.asynchronous is not None:
        return True
    part = header(node)
    return part is not None and any(isinstance(n, cst.Await) for n in walk(part))


def yields(node: cst.CSTNode) -> bool:
    """Does the statement (its header, for a compound one) suspend at a `yield`?"""
    part = header(node)
    return part is not None and any(isinstance(n, cst.Yield) for n in walk(part))


def before_or_done(before: State, after: State, eff: Effect) -> State:
    """The state an error in this statement leaves: a statement that releases or hands off the
    resource counts as doing so even if it raises (`pool.putconn(conn)`, `return Repo(conn)`)."""
    return after if eff.released or eff.moved else before


def _acquired_name(stmt: cst.BaseSmallStatement, ctx: Context) -> str | None:
    binding = ctx.site.binding
    if (
        binding.how in (Origin.ASSIGN, Origin.TUPLE, Origin.COLLECTION)
        and isinstance(stmt, (cst.Assign, cst.AnnAssign, cst.Expr))
        and is_site_value(stmt.value, ctx.site)
    ):
        return binding.name
    return None


def _cause(ex: Exit) -> cst.CSTNode:
    note = ex.state.note
    return note.cause if note is not None and note.kind == "caught" and note.cause else ex.node


def _reraise(ex: Exit) -> Exit:
    """A bare `raise` in a handler re-raises the error caught: not an explicit early exit."""
    if (
        ex.kind == "raise"
        and ex.explicit
        and isinstance(ex.node, cst.Raise)
        and ex.node.exc is None
    ):
        return replace(ex, explicit=False)
    return ex


def _except_note(state: State) -> State:
    if state.status is Status.HELD and state.note is not None and state.note.kind == "caught":
        return replace(state, note=Note("except", state.note.node, state.note.cause))
    return state


def _releases(states: set[State]) -> bool:
    return any(s.status is Status.DONE for s in states)


def _tag(states: set[State], note: Note) -> set[State]:
    return {replace(s, note=note) if s.status is Status.HELD else s for s in states}


def _always_true(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    if isinstance(test, cst.Integer):
        return test.value not in ("0", "0x0", "0o0", "0b0")
    return False


def _add_exit(exits: list[Exit], seen: set[tuple[object, ...]], ex: Exit) -> None:
    """Keep one exit per (kind, state), and per statement for returns and explicit raises."""
    node_key = id(ex.node) if ex.kind != "raise" or ex.explicit else None
    key = (ex.kind, ex.state, node_key, ex.in_finally, ex.at_yield, ex.cancelled)
    if key not in seen:
        seen.add(key)
        exits.append(ex)


def _cap(states: set[State]) -> set[State]:
    """Bound the state set: beyond MAX_STATES, forget path notes (they only shape messages) and
    the flags known on each path."""
    if len(states) <= MAX_STATES:
        return states
    # Forgetting flag values only widens the paths (both branches of `if owned:` again).
    return {replace(s, note=None, known=frozenset()) for s in states}
