"""Paired request hooks: a resource stored on a request or app context (`g.db = connect()`) must
be released by a hook that runs when the request raises too.

The hooks are data (`rules/lifecycles.toml`, `HookPair`): Flask's `before_request` opens,
`after_request` runs only when the request does not raise, `teardown_request` and
`teardown_appcontext` always run. A function is a hook when decorated (`@app.after_request`,
`@bp.before_app_request`) or registered by a call (`app.teardown_appcontext(close_db)`). Any
function of the module may store (the Flask tutorial's lazy `get_db()`); the verdict is at the
acquisition when the only hooks that release it can be skipped. When nothing in the module
releases it, the shared analysis already reports it as never closed (`analysis/contexts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.contexts import (
    functions,
    hooks_elsewhere,
    registered,
    released_anywhere,
    releases_key,
)
from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.frameworks.common import never_released
from leakcheck.analysis.syntax import call_text, receiver_text, unwrap_value, walk
from leakcheck.checks import hook_release_skipped_on_error
from leakcheck.config.catalogue import Kind
from leakcheck.config.lifecycles import HookPair


@dataclass(frozen=True)
class Stored:
    """An acquisition stored on a context: `holder.key = call` in `function`."""

    call: cst.Call
    holder: str  # the context as written (`g`, `flask.g`)
    key: str
    function: cst.FunctionDef
    direct: bool = True  # `g.db = connect()`; False: `rv = connect(); g.db = rv`


def stored(facts: ModuleFacts, pair: HookPair) -> list[Stored]:
    """Acquisitions stored on one of `pair`'s context objects inside a function, directly
    (`g.db = connect()`) or through a name of the same function (`rv = connect()`, `g.db = rv`)."""
    found = []
    for node in walk(facts.module, into_scopes=True):
        if not isinstance(node, cst.FunctionDef):
            continue
        bound: dict[str, cst.Call] = {}
        for inner in walk(node.body):
            if not isinstance(inner, cst.Assign):
                continue
            value = unwrap_value(inner.value)
            direct = not isinstance(value, cst.Name)
            if isinstance(value, cst.Name) and value.value in bound:
                value = bound[value.value]
            if not isinstance(value, cst.Call):
                continue
            for target in inner.targets:
                where = target.target
                if isinstance(where, cst.Name):
                    bound[where.value] = value
                    continue
                if not isinstance(where, cst.Attribute):
                    continue
                if facts.qualify(where.value) not in pair.holders:
                    continue
                holder = receiver_text(where.value) or ""
                found.append(Stored(value, holder, where.attr.value, node, direct))
    return found


def hook_drafts(facts: ModuleFacts, pair: HookPair) -> list[Draft]:
    """`hook-release-skipped-on-error` for each stored acquisition that only hooks which can be
    skipped release."""
    hooks = registered(facts.module, pair)
    index = functions(facts.module)
    by_id = {id(f): f for fs in index.values() for f in fs}
    drafts = []
    for store in stored(facts, pair):
        kind = facts.acquisition(store.call, None)
        if kind is None:
            continue
        holder_last = store.holder.rsplit(".", 1)[-1]
        if not store.direct and not released_anywhere(facts, holder_last, store.key, kind, index):
            text = f"{store.holder}.{store.key}"
            if not hooks:
                hooks_elsewhere(facts, store.call, text)
                continue
            never = never_released(store.call, kind, text, store.function)
            drafts.extend([never] if never is not None else [])
            continue
        skipped: list[tuple[cst.FunctionDef, str]] = []
        safe = False
        for function_id, names in hooks.items():
            closers = [pair.closer(n) for n in names]
            closers_found = [c for c in closers if c is not None]
            if not closers_found:
                continue
            function = by_id[function_id]
            if not releases_key(facts, function, holder_last, store.key, kind, index):
                continue
            if any(c.on_error for c in closers_found):
                safe = True
                break
            skipped.append((function, closers_found[0].hook))
        opened_by = next((n for n in hooks.get(id(store.function), []) if n in pair.opening), "")
        if safe:
            continue
        if not skipped and opened_by:
            outside = _released_outside_hooks(facts, store, kind, hooks, index)
            if outside is not None:
                drafts.append(_draft(store, kind, pair, opened_by, outside, "", NOT_A_HOOK))
            continue
        if not skipped:
            continue
        closer, hook = skipped[0]
        close = pair.closer(hook)
        why = close.why if close is not None else ""
        drafts.append(_draft(store, kind, pair, opened_by, closer, hook, why))
    return drafts + _held_by_source(facts, pair, hooks, by_id)


def _held_by_source(
    facts: ModuleFacts,
    pair: HookPair,
    hooks: dict[int, list[str]],
    by_id: dict[int, cst.FunctionDef],
) -> list[Draft]:
    """`db.connect()` in an opening hook, for a kind whose source holds the connection
    (`resource-is-source`: peewee), closed (`db.close()`) only by closing hooks that can be
    skipped: peewee's documented pattern with `after_request` in place of `teardown_request`."""
    drafts = []
    for function_id, names in hooks.items():
        opened_by = next((n for n in names if n in pair.opening), "")
        if not opened_by:
            continue
        function = by_id[function_id]
        for call in walk(function.body):
            if type(call) is not cst.Call or type(call.func) is not cst.Attribute:
                continue
            kind = facts.acquisition(call, None)
            source = receiver_text(call.func.value)
            if kind is None or not kind.resource_is_source or source is None:
                continue
            closers = [
                (by_id[other], close)
                for other, other_names in hooks.items()
                for close in (pair.closer(n) for n in other_names)
                if close is not None and _closes(by_id[other], source, kind)
            ]
            if closers and not any(close.on_error for _, close in closers):
                closer, close = closers[0]
                store = Stored(call, source, "", function)
                drafts.append(_draft(store, kind, pair, opened_by, closer, close.hook, close.why))
    return drafts


def _closes(function: cst.FunctionDef, source: str, kind: Kind) -> bool:
    """Does `function` call `<source>.METHOD()` for one of the kind's releases on the source?"""
    return any(
        type(node) is cst.Call
        and type(node.func) is cst.Attribute
        and not node.args
        and node.func.attr.value in kind.release_all_methods
        and receiver_text(node.func.value) == source
        for node in walk(function.body)
    )


# Why a release in a function that is no request hook (a view) can be skipped.
NOT_A_HOOK = "it runs only for the requests that reach it, and not when they raise first"
# Parameters a teardown function takes (the error, or None): a function so shaped may be
# registered as a teardown in another module, so it is not taken for a view.
_TEARDOWN_PARAMETERS = frozenset({"exc", "exception", "error", "err", "e", "_", "_exc"})


def _released_outside_hooks(
    facts: ModuleFacts,
    store: Stored,
    kind: Kind,
    hooks: dict[int, list[str]],
    index: dict[str, list[cst.FunctionDef]],
) -> cst.FunctionDef | None:
    """A function that is no hook and not shaped like a teardown that releases what `store`
    keeps (a view closing `g.db`), when only such functions do."""
    holder_last = store.holder.rsplit(".", 1)[-1]
    for functions_named in index.values():
        for function in functions_named:
            if function is store.function or id(function) in hooks:
                continue
            params = {p.name.value for p in function.params.params}
            if params & _TEARDOWN_PARAMETERS:
                continue
            if releases_key(facts, function, holder_last, store.key, kind, index):
                return function
    return None


def _draft(
    store: Stored,
    kind: Kind,
    pair: HookPair,
    opened_by: str,
    closer: cst.FunctionDef,
    hook: str,
    why: str,
) -> Draft:
    """The finding at `store`'s acquisition: released only in `closer` (as `hook`, or in no hook
    when `hook` is empty), which `why` says can be skipped."""
    opener = store.function.name.value
    where = _named(closer.name.value, hook) if hook else f"`{closer.name.value}` (no hook)"
    return Draft(
        hook_release_skipped_on_error.RULE.code,
        store.call,
        {
            "what": f"{kind.resource.capitalize()} from `{call_text(store.call)}`",
            "stored": f"{store.holder}.{store.key}" if store.key else store.holder,
            "opener": _named(opener, opened_by),
            "closer": where,
            "why": why,
            "safe": pair.safe,
            "released": kind.released,
        },
        opener,
        call_text(store.call),
        related=closer.name,
        related_label=f"released only in `{hook}`" if hook else "released only here",
    )


def _named(function: str, hook: str) -> str:
    """A hook function as the message names it: `` `open_db` (`before_request`) ``, or once when
    the function is named for its hook (`` `before_request` ``, as Flask's tutorials write it)."""
    if not hook or hook == function:
        return f"`{function}`"
    return f"`{function}` (`{hook}`)"
