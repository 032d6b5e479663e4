"""What the framework analyses share beyond the context-store search of `analysis/contexts.py`:
the never-released finding of a resource bound to a name and then stored on a context."""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.django.drafts import Draft
from leakcheck.analysis.records import Escape
from leakcheck.analysis.syntax import call_text
from leakcheck.checks import rule_for
from leakcheck.config.catalogue import Kind


def never_released(
    call: cst.Call, kind: Kind, stored: str, function: cst.FunctionDef
) -> Draft | None:
    """The never-released finding (`never-closed`, `pool-connection-never-returned`) for an
    acquisition bound to a name and then stored on a context (`db = connect()`,
    `g.db = db`) that nothing in the module releases: the shared analysis takes the store for
    a hand-off and says nothing (`analysis/contexts.py` judges only direct stores)."""
    rule = rule_for(kind.family, Escape.NEVER.value)
    if rule is None:
        return None
    return Draft(
        rule.code,
        call,
        {
            "what": f"{kind.resource.capitalize()} from `{call_text(call)}`",
            "released": kind.released,
            "how": f" (stored in `{stored}`, and nothing in this module closes it)",
        },
        function.name.value,
        call_text(call),
        no_fix=(
            f"it is kept on `{stored}` for later code: the release belongs in a hook that runs "
            "when that lifetime ends (a teardown, a `finally` of the middleware), which the "
            "fixer does not write"
        ),
    )
