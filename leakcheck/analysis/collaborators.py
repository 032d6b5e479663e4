"""Collaborators: the class of the object an attribute of `self`, or a module-level name, holds,
so that a method called on it (`db = self.repo.sessions()`) is answered by that class's summary.

A class's `__init__` binding `self.repo = Repo(...)` (or a parameter annotated with the class,
`def __init__(self, repo: Repo): self.repo = repo`), a class-level annotation (`repo: Repo`, the
dataclass form), and a module-level `repo = Repo(...)` give the object its class, unless a
method of the class binds the attribute to anything else (`self.repo = other`). The class is
named as this module spells it: one of its own classes, or a name it imports (whose export
carries its methods' roles, `Export.method_factories`). Read once per module, after the walk;
only the statements of each class body and the assignments to `self.X` in its methods are
looked at.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import dotted, walk


def attribute_classes(
    module: cst.Module,
    functions: list[FunctionInfo],
    is_class: Callable[[str], bool],
) -> dict[tuple[str, str], str]:
    """(class, attribute) -> the class (as written here) of the object `self.attribute` holds.

    `is_class(text)`: whether a dotted name written in this module names a class whose methods
    matter (one of its own, or an imported one whose export lists factory methods). An
    attribute bound to objects of two classes, or to anything else besides, has none.
    """
    found: dict[tuple[str, str], set[str | None]] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.ClassDef):
            continue
        for line in stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ():
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    written = dotted(small.annotation.annotation)
                    if written is not None and is_class(written):
                        found.setdefault((stmt.name.value, small.target.value), set()).add(written)
    for info in functions:
        node = info.node
        if info.class_name is None or not isinstance(node, cst.FunctionDef):
            continue
        annotated = {
            p.name.value: dotted(p.annotation.annotation)
            for p in info.param_nodes
            if p.annotation is not None
        }
        for sub in walk(node.body):
            if not isinstance(sub, cst.Assign) or len(sub.targets) != 1:
                continue
            target = sub.targets[0].target
            if not (
                isinstance(target, cst.Attribute)
                and isinstance(target.value, cst.Name)
                and target.value.value == "self"
            ):
                continue
            value = sub.value
            named: str | None = None
            if isinstance(value, cst.Call):
                named = dotted(value.func)
            elif isinstance(value, cst.Name):
                named = annotated.get(value.value)
            if named is None or not is_class(named):
                named = None
            found.setdefault((info.class_name, target.attr.value), set()).add(named)
    out: dict[tuple[str, str], str] = {}
    for key, names in found.items():
        (only,) = names if len(names) == 1 else (None,)
        if only is not None:
            out[key] = only
    return out


def module_objects(module_info: FunctionInfo, is_class: Callable[[str], bool]) -> dict[str, str]:
    """Module-level name -> the class (as written here) of the one object it is bound to
    (`repo = Repo(engine)`)."""
    out: dict[str, str] = {}
    for name, values in module_info.assigned.items():
        made = {dotted(v.func) if isinstance(v, cst.Call) else None for v in values}
        if len(made) == 1:
            (named,) = made
            if named is not None and is_class(named):
                out[name] = named
    return out
