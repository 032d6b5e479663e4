"""Releases through a helper that does more than release (`archive_and_close(db)`: commit, then
close). The recipes treat a release statement as the end of the resource's life and drop or move
it; a helper's other work (a commit) would be dropped or moved with it, so no rewrite is offered
for a resource such a helper releases."""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.facts import ModuleFacts, Site
from leakcheck.analysis.syntax import dotted, unwrap_value, walk
from leakcheck.fix.ranges import is_release


def releases_through_busy_helper(site: Site, facts: ModuleFacts, name: str) -> bool:
    """Whether a release statement of `name` in `site`'s scope (`archive_and_close(db)` on its
    own line, what the recipes drop or move) calls a function that also does other work, or
    whose body this module cannot see (an imported releaser)."""
    for stmt in walk(site.scope):
        if not is_release(stmt, site, facts, name):
            continue  # only release statements are dropped or moved by the recipes
        assert isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)
        call = unwrap_value(stmt.body[0].value)
        assert isinstance(call, cst.Call)
        if not _direct(call, site) and not _only_releases(call, site, facts):
            return True
    return False


def _direct(call: cst.Call, site: Site) -> bool:
    """`pool.putconn(conn)`, `db.close()`: the kind's own release method."""
    func = unwrap_value(call.func)
    if not isinstance(func, cst.Attribute):
        return False
    method = func.attr.value
    return method in site.kind.release_methods or method in site.kind.self_release_methods


def _only_releases(call: cst.Call, site: Site, facts: ModuleFacts) -> bool:
    """The called function only releases, closes or logs: one of this module
    (`ModuleFacts.only_releases`), or an imported releaser whose summary says so."""
    key = dotted(call.func) or ""
    head, _, method = key.partition(".")
    if head in ("self", "cls") and site.class_name is not None:
        key = f"{site.class_name}.{method}"
    info = facts.by_key.get(key)
    if info is not None:
        return facts.only_releases(info)
    export = facts.imported(key)
    return export is not None and export.role == "releaser" and export.pure
