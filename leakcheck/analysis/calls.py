"""What the first pass records about each call's value: how it is bound (`bindings`, by the call's
`id`), and where else it goes (chained to, passed to, stored on a context, under an annotation,
awaited, expected to raise by a test).

The walk hands each statement that holds a call to `CallRecords`; later stages read the maps
(through `CollectedFacts`) to find out what becomes of an acquisition's value. Kept apart from
the walk because these records concern values, not scopes or names.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.imports import ModuleImports
from leakcheck.analysis.records import Binding, Origin
from leakcheck.analysis.stored import Stores
from leakcheck.analysis.syntax import dotted, receiver_text, unwrap_value
from leakcheck.config.catalogue import Kind

_ASSERT_RAISES = frozenset({"assertRaises", "assertRaisesRegex"})


def _last_statement(body: cst.BaseSuite) -> cst.BaseSmallStatement | None:
    """The last simple statement of a block, when the block ends with one (`x = f()`, or the
    last of `a(); b()`): once a block that must raise reaches it, the error can only come from
    it (from the call that is its whole value, when the statement is `f()` or `x = f()`; an
    acquisition passed to a call, `use(pool.getconn())`, may be made and then leak). None when
    the block ends with a compound statement."""
    if isinstance(body, cst.SimpleStatementSuite):
        return body.body[-1] if body.body else None
    last = body.body[-1] if isinstance(body, cst.IndentedBlock) and body.body else None
    if isinstance(last, cst.SimpleStatementLine) and last.body:
        return last.body[-1]
    return None


class CallRecords:
    """The calls of one module and what becomes of their values, keyed by `id(node)`."""

    def __init__(self, kinds: tuple[Kind, ...], imports: ModuleImports) -> None:
        self.kinds = kinds
        self.imports = imports
        self.bindings: dict[int, Binding] = {}
        self.chained: dict[int, cst.Call] = {}  # `pool.getconn()` -> `pool.getconn().cursor()`
        self.passed: dict[int, tuple[cst.Call, cst.Arg]] = {}  # `f(SessionLocal())`: f, the arg
        self.annotated: dict[int, Kind] = {}  # `s: AsyncSession = unknown()` -> the kind named
        # `context["db"] = make_session()`, `g.db = connect()`: stored on a context object.
        self.stored_calls: dict[int, tuple[str, str, str]] = {}  # call -> (target, holder, key)
        self.awaited: set[int] = set()  # calls under an `await`
        self.expected_to_raise: set[int] = set()  # calls a test expects to raise (`with_`)
        # `app.state.sessions = sessionmaker(e)`, `FACTORIES = {"main": SessionLocal}` (stored.py)
        self.stores = Stores()

    def call(self, call: cst.Call) -> None:
        """`call` takes the value of the call it is chained to, and of those passed to it."""
        func = call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            self.chained[id(func.value)] = call
        for arg in call.args:
            value = unwrap_value(arg.value)
            if isinstance(value, cst.Call):
                self.passed[id(value)] = (call, arg)

    def discarded(self, call: cst.Call) -> None:
        """`call` is a statement of its own: its value is dropped, unless kept in a list."""
        self.bindings[id(call)] = Binding(Origin.DISCARDED, None)
        self._appended(call)

    def await_(self, node: cst.Await) -> None:
        """What `node` awaits (and the call inside its parentheses) runs to completion here."""
        self.awaited.add(id(node.expression))
        self.awaited.add(id(unwrap_value(node.expression)))

    def assign(
        self,
        node: cst.Assign | cst.AnnAssign,
        targets: list[cst.BaseAssignTargetExpression],
        inner: cst.BaseExpression,
        in_function: bool,
    ) -> None:
        """`inner`, the unwrapped value of `node`, is bound to `targets`: to one name, to a
        tuple of names, to an attribute or item of a context object (in a function; also with a
        name as its alias, `db = g._database = connect()`), or, for a comprehension, each
        element to the list's name. Every store under a key is recorded (`stored.py`)."""
        for target in targets:
            if isinstance(target, (cst.Attribute, cst.Subscript)):
                self.stores.assigned(target, inner)
            elif not in_function and isinstance(target, cst.Name):
                self.stores.module_dict(target.value, inner)
        if isinstance(inner, cst.Call):
            if len(targets) == 1 and isinstance(targets[0], cst.Name):
                self.bindings[id(inner)] = Binding(Origin.ASSIGN, targets[0].value)
                if isinstance(node, cst.AnnAssign):
                    self._annotated(node.annotation.annotation, inner)
            elif len(targets) == 1 and in_function:
                self._stored_call(targets[0], inner)
            elif len(targets) == 2 and in_function:
                # `db = g._database = sqlite3.connect(...)` (the Flask documentation's getter):
                # the name is only an alias of what the context keeps for the request.
                aliases = [t for t in targets if isinstance(t, cst.Name)]
                others = [t for t in targets if not isinstance(t, cst.Name)]
                if len(aliases) == 1 and len(others) == 1:
                    self._stored_call(others[0], inner)
            if len(targets) == 1 and isinstance(targets[0], (cst.Tuple, cst.List)):
                names = tuple(
                    e.value.value if isinstance(e.value, cst.Name) else None
                    for e in targets[0].elements
                )
                self.bindings[id(inner)] = Binding(Origin.TUPLE, None, names)
        elif (
            isinstance(inner, (cst.ListComp, cst.SetComp))
            and len(targets) == 1
            and isinstance(targets[0], cst.Name)
        ):
            element = unwrap_value(inner.elt)
            if isinstance(element, cst.Call):
                self.bindings[id(element)] = Binding(Origin.COLLECTION, targets[0].value)

    def with_(self, node: cst.With) -> None:
        """The calls `node` enters are bound by `with` (to their `as` name, if any); under
        `pytest.raises(...)`, the block's last call is expected to raise."""
        if any(self._expects_raising(item.item) for item in node.items):
            last = _last_statement(node.body)
            value = getattr(last, "value", None)  # `X`, `x = X`, `x: T = X`, `await X`
            if type(last) in (cst.Expr, cst.Assign, cst.AnnAssign) and value is not None:
                call = unwrap_value(value)
                if type(call) is cst.Call:
                    self.expected_to_raise.add(id(call))
        for item in node.items:
            inner = unwrap_value(item.item)
            if not isinstance(inner, cst.Call):
                continue
            name = None
            if item.asname is not None and isinstance(item.asname.name, cst.Name):
                name = item.asname.name.value
            self.bindings[id(inner)] = Binding(Origin.WITH, name)

    def _stored_call(self, target: cst.BaseExpression, call: cst.Call) -> None:
        """`context["db"] = make_session()` / `g.db = connect()` (not on `self`/`cls`)."""
        key = None
        if isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                value = index.value.evaluated_value
                key = value if isinstance(value, str) else None
        elif isinstance(target, cst.Attribute) and dotted(target.value) not in ("self", "cls"):
            key = target.attr.value
        text = receiver_text(target)
        holder = (
            receiver_text(target.value)
            if isinstance(target, (cst.Subscript, cst.Attribute))
            else None
        )
        if key and text is not None and holder is not None:
            self.stored_calls[id(call)] = (text, holder, key)

    def _appended(self, call: cst.Call) -> None:
        """`conns.append(pool.getconn())`: one more resource kept in the list `conns`."""
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("append", "add")
            and isinstance(func.value, cst.Name)
            and len(call.args) == 1
        ):
            element = unwrap_value(call.args[0].value)
            if isinstance(element, cst.Call):
                self.bindings[id(element)] = Binding(Origin.COLLECTION, func.value.value)

    def _annotated(self, annotation: cst.BaseExpression, call: cst.Call) -> None:
        """`s: AsyncSession = request.app.state.make()`: the annotation names the kind (used only
        when the callee is unknown; `sites()` decides)."""
        qualified = self.imports.qualify(annotation)
        kind = next((k for k in self.kinds if k.names_annotation(qualified)), None)
        if kind is not None:
            self.annotated[id(call)] = kind

    def _expects_raising(self, expr: cst.BaseExpression) -> bool:
        """`pytest.raises(...)` (pytest docs, "Assertions about expected exceptions") or
        unittest's `self.assertRaises(...)` / `self.assertRaisesRegex(...)` used as a context
        manager: the block must raise, or the test fails."""
        if type(expr) is not cst.Call:
            return False
        func = expr.func
        if self.imports.qualify(func) == "pytest.raises":
            return True
        return type(func) is cst.Attribute and func.attr.value in _ASSERT_RAISES
