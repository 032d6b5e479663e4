"""Boolean flags set together with an acquisition, and the tests that read them.

```python
owned = session is None
if owned:
    session = SessionLocal()
try:
    ...
finally:
    if owned:
        session.close()
```

The path "acquired and `owned` false" does not exist. The walker keeps, per path, the values of
the flags it knows (`known`): a flag takes a value from `name = True` / `name = False`, or from the
branch of `if name:` / `if not name:` a path took, and loses it when rebound to anything else. Only
names the scope tests as a bare `if` condition are followed, so unrelated assignments do not
multiply the paths.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.syntax import walk

Known = frozenset[tuple[str, bool]]


def tested_flags(scope: cst.CSTNode) -> frozenset[str]:
    """Names the scope tests directly: `if owned:`, `if not close_after:`, `elif owned and x:`."""
    found = set()
    for node in walk(scope):
        if isinstance(node, (cst.If, cst.While)):
            for part in _conjuncts(node.test):
                name, _ = _flag(part)
                if name is not None:
                    found.add(name)
    return frozenset(found)


def flag_truth(test: cst.BaseExpression, known: Known) -> bool | None:
    """The value of `test` from the flags known on a path, if it is decided by them."""
    if not known:
        return None
    values = dict(known)
    parts = _conjuncts(test)
    results: list[bool | None] = []
    for part in parts:
        name, positive = _flag(part)
        if name is None or name not in values:
            results.append(None)
        else:
            results.append(values[name] == positive)
    if any(r is False for r in results):
        return False
    if len(parts) == 1 and results[0] is not None:
        return results[0]
    return None


def learn(test: cst.BaseExpression, known: Known, taken: bool, flags: frozenset[str]) -> Known:
    """What a path knows after taking the `taken` branch of `if test:`."""
    name, positive = _flag(test)
    if name is not None and name in flags:
        return set_flag(known, name, positive == taken)
    if taken:  # `if owned and conn:` taken: every conjunct that is a flag is true
        for part in _conjuncts(test):
            name, positive = _flag(part)
            if name is not None and name in flags:
                known = set_flag(known, name, positive)
    return known


def assign(stmt: cst.BaseSmallStatement, known: Known, flags: frozenset[str]) -> Known:
    """What a path knows after `stmt`: `owned = True` sets a flag, other bindings forget it."""
    if not isinstance(stmt, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
        return known
    targets = [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
    value = stmt.value if not isinstance(stmt, cst.AugAssign) else None
    for target in targets:
        if not (isinstance(target, cst.Name) and target.value in flags):
            continue
        if isinstance(value, cst.Name) and value.value in ("True", "False"):
            known = set_flag(known, target.value, value.value == "True")
        else:
            known = frozenset(k for k in known if k[0] != target.value)
    return known


def set_flag(known: Known, name: str, value: bool) -> Known:
    return frozenset({*(k for k in known if k[0] != name), (name, value)})


def _flag(test: cst.BaseExpression) -> tuple[str | None, bool]:
    positive = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        positive = not positive
        test = test.expression
    if isinstance(test, cst.Name) and test.value not in ("True", "False", "None"):
        return test.value, positive
    return None, positive


def _conjuncts(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return [*_conjuncts(test.left), *_conjuncts(test.right)]
    return [test]
