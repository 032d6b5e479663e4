"""`unentered`: a context manager that wraps a connection, called without `with` and used anyway.

`cursor = get_db_cursor(); cursor.execute(...)` never enters the manager: nothing is acquired and
`cursor` is the manager itself (incident 4). We flag it only when the result is used as if it were
the resource (an attribute of it is read), never when it is entered later, handed to an ExitStack,
or returned.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.records import Escape, Origin
from leakcheck.analysis.syntax import call_text
from leakcheck.analysis.verdicts import Verdict

DUNDERS = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__"})


def unentered(facts: ModuleFacts) -> list[Verdict]:
    found = []
    for call, scope, class_name in facts.calls:
        binding = facts.bindings.get(id(call))
        if binding is None or binding.how != Origin.ASSIGN or binding.name is None:
            continue
        kind = facts.context_manager_kind(call, class_name)
        if kind is None:
            continue
        info = facts.scopes[scope]
        name = binding.name
        if name in info.entered or _returned(info.returns, name):
            continue
        uses = [a for a in info.attribute_uses.get(name, []) if a.attr.value not in DUNDERS]
        if not uses:
            continue
        use = uses[0]
        how = (
            (
                f" is a context manager called without `with`, so it is never entered: "
                f"`{name}.{use.attr.value}` on line {{line}} uses the manager itself",
                use,
            ),
        )
        site = Site(call, kind, scope, class_name, binding)
        found.append(
            Verdict(
                site,
                Escape.UNENTERED,
                use,
                how,
                f"uses the manager, not a {kind.resource}",
                what=f"`{call_text(call)}`",
            )
        )
    return found


def _returned(returns: list[cst.BaseExpression], name: str) -> bool:
    return any(isinstance(value, cst.Name) and value.value == name for value in returns)
