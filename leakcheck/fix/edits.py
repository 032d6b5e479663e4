"""Apply a rewrite plan to the tree, and express it as a text edit of whole lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst
from libcst._nodes.internal import CodegenState

from leakcheck.analysis.positions import Span, locate
from leakcheck.analysis.syntax import dotted
from leakcheck.fix.continuations import deepen_continuations
from leakcheck.model import Edit

if TYPE_CHECKING:
    from leakcheck.fix.recipes import Plan


def changed_lines(old: list[str], new: list[str]) -> tuple[int, int, int]:
    """1-based first changed line, last changed old line and last changed new line."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new)) - prefix
        and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    return prefix + 1, len(old) - suffix, len(new) - suffix


def apply_plan(module: cst.Module, plan: Plan) -> tuple[cst.Module, int | None]:
    """The module with the plan's block replaced and its imports added once; and the 1-based line
    of the import in the new code, if a line was inserted (the only line outside the block a fix
    may add; a name added to an existing `from contextlib import ...` changes that line)."""
    new = deepen_continuations(plan.old, plan.new, module.default_indent)
    result = module.deep_replace(plan.old, new)
    assert isinstance(result, cst.Module)
    inserted: cst.CSTNode | None = None
    for source, name in plan.imports:
        if _imports(result, source, name):
            continue
        result, inserted = add_import(result, source, name)
    if inserted is None:
        return result, None
    return result, locate(result, [inserted])[id(inserted)].line


class _Replace(cst.CSTTransformer):
    def __init__(self, plans: Sequence[Plan], indent: str) -> None:
        super().__init__()
        self.new = {id(p.old): deepen_continuations(p.old, p.new, indent) for p in plans}

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        return self.new.get(id(original_node), updated_node)


def apply_plans(module: cst.Module, plans: Sequence[Plan]) -> cst.Module:
    """The module with several plans on disjoint blocks applied at once, imports added once."""
    result = module.visit(_Replace(plans, module.default_indent))
    assert isinstance(result, cst.Module)
    for source, name in dict.fromkeys(i for p in plans for i in p.imports):
        if not _imports(result, source, name):
            result = add_import(result, source, name)[0]
    return result


def _header(body: Sequence[cst.BaseStatement]) -> int:
    """How many statements open the module: its docstring and imports."""
    return _after_header(list(body))


def _from_import(stmt: cst.BaseStatement) -> cst.ImportFrom | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
            return small
    return None


def _top_module(stmt: cst.BaseStatement) -> tuple[str, bool] | None:
    """(module, is a `from` import) of an import statement; None for anything else."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        return dotted(small.names[0].name) or "", False
    if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        return dotted(small.module) or "", True
    return None


def add_import(module: cst.Module, source: str, name: str) -> tuple[cst.Module, cst.CSTNode]:
    """`from <source> import <name>` where an isort-ordered file has it (isort's and ruff's
    default order: within the standard-library section, `import x` lines first, then `from x
    import y` lines, each sorted by module): merged into an existing unparenthesised
    `from <source> import ...` line (names kept sorted if they were), or a new line in the
    standard-library section, or a new section before the third-party imports."""
    body = list(module.body)
    header = _header(body)
    for index in range(header):
        found = _from_import(body[index])
        if (
            found is not None
            and dotted(found.module or cst.Name("_")) == source
            and not isinstance(found.names, cst.ImportStar)
            and found.lpar is None
        ):
            names = [a for a in found.names]
            plain = [dotted(a.name) or "" for a in names]
            alias = cst.ImportAlias(cst.Name(name))
            position = len(names)
            if plain == sorted(plain, key=str.lower):
                position = sum(1 for n in plain if n.lower() < name.lower())
            names.insert(position, alias)
            comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            names = [a.with_changes(comma=comma) for a in names[:-1]] + [
                names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            ]
            new_stmt = body[index].with_changes(body=[found.with_changes(names=names)])
            body[index] = new_stmt
            return module.with_changes(body=body), new_stmt
    target = cst.parse_expression(source)  # `app.database`: an attribute chain
    assert isinstance(target, (cst.Name, cst.Attribute))
    line = cst.SimpleStatementLine(
        body=[cst.ImportFrom(module=target, names=[cst.ImportAlias(cst.Name(name))])]
    )
    package = source.split(".")[0]
    stdlib = [
        (i, top)
        for i in range(header)
        if (top := _top_module(body[i])) is not None
        and top[0].split(".")[0] in sys.stdlib_module_names
        and top[0] != "__future__"
    ]
    if package not in sys.stdlib_module_names:
        # A module of the project or a third party: among the imports of the same package.
        stdlib = [
            (i, top)
            for i in range(header)
            if (top := _top_module(body[i])) is not None and top[0].split(".")[0] == package
        ]
        if not stdlib:
            imports = [i for i in range(header) if _top_module(body[i]) is not None]
            position = imports[-1] + 1 if imports else header
            line = line.with_changes(leading_lines=[cst.EmptyLine()] if imports else [])
            body.insert(position, line)
            return module.with_changes(body=body), line
    if stdlib:
        position = stdlib[-1][0] + 1
        for i, (module_name, is_from) in stdlib:
            if is_from and module_name.lower() > source.lower():
                position = i
                break
        if position <= stdlib[-1][0]:  # before an existing line: it takes that line's place
            line = line.with_changes(leading_lines=body[position].leading_lines)
            body[position] = body[position].with_changes(leading_lines=[])
        body.insert(position, line)
        return module.with_changes(body=body), line
    imports = [i for i in range(header) if _top_module(body[i]) is not None]
    after_future = [i for i in imports if _top_module(body[i]) == ("__future__", True)]
    rest = [i for i in imports if i not in after_future]
    if rest:  # a new standard-library section above the first other import
        position = rest[0]
        line = line.with_changes(leading_lines=body[position].leading_lines)
        body[position] = body[position].with_changes(leading_lines=[cst.EmptyLine()])
    else:
        position = header
        if position < len(body):
            line = line.with_changes(leading_lines=[cst.EmptyLine()] if header else [])
    body.insert(position, line)
    return module.with_changes(body=body), line


def header_lines(module: cst.Module) -> int:
    """How many lines the module's docstring and imports take (rendered alone)."""
    header = _header(module.body)
    return len(module.with_changes(body=list(module.body)[:header], footer=[]).code.splitlines())


def import_edit(module: cst.Module, source: str, name: str) -> Edit:
    """`add_import` as a text edit of the module's opening lines (rendered alone: cheap)."""
    header = _header(module.body)
    before = module.with_changes(body=list(module.body)[:header], footer=[])
    after, _ = add_import(before, source, name)
    old = before.code.splitlines(keepends=True)
    new = after.code.splitlines(keepends=True)
    first, last_old, last_new = changed_lines(old, new)
    return Edit(first, 1, last_old + 1, 1, "".join(new[first - 1 : last_new]))


def _imports(module: cst.Module, source: str, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.ImportFrom)
                    and small.module is not None
                    and dotted(small.module) == source
                    and not isinstance(small.names, cst.ImportStar)
                    and any(dotted(a.name) == name and a.asname is None for a in small.names)
                ):
                    return True
    return False


def _after_header(body: list[cst.BaseStatement]) -> int:
    """After the docstring and the imports that open the module."""
    index = 0
    for index, stmt in enumerate(body):
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and stmt.body else None
        docstring = (
            index == 0
            and isinstance(small, cst.Expr)
            and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))
        )
        if not (docstring or isinstance(small, (cst.Import, cst.ImportFrom))):
            return index
    return len(body)


def edit_for(module: cst.Module, plan: Plan) -> Edit:
    """Whole lines of the original replaced by the rewritten ones (end exclusive), from rendering
    the whole module: the reference `edits_for` is checked against."""
    old_lines = module.code.splitlines(keepends=True)
    new_lines = apply_plan(module, plan)[0].code.splitlines(keepends=True)
    first, last_old, last_new = changed_lines(old_lines, new_lines)
    return Edit(first, 1, last_old + 1, 1, "".join(new_lines[first - 1 : last_new]))


RENDERS = [0]  # how many times a whole module was rendered for an edit (a test counts them)


def edits_for(
    module: cst.Module,
    plans: list[Plan],
    lines: list[str],
    spans: dict[int, Span] | None = None,
) -> list[tuple[Edit, ...]]:
    """The text edits of each plan, computed from the plan's own block, not by rendering the
    module once per plan: linear in the size of the file for any number of findings.

    `lines`: the module's code split into lines (with their endings); `spans`: the blocks'
    positions when the caller located them already. One position pass finds every block; each
    block is rendered before and after the rewrite, and the changed lines get the indentation
    the block has in the file. A plan whose block cannot be mapped back this way
    (never seen in practice) falls back to `edit_for`.
    """
    if spans is None or any(id(p.old) not in spans for p in plans):
        spans = locate(module, [p.old for p in plans])
    out: list[tuple[Edit, ...]] = []
    for plan in plans:
        edit = _block_edit(module, plan, spans[id(plan.old)], lines)
        if edit is None:
            RENDERS[0] += 1
            edit = edit_for(module, plan)
            out.append((edit,))
            continue
        extra = _import_edit(module, plan)
        out.append((edit,) if extra is None else (extra, edit))
    return out


def _block_edit(module: cst.Module, plan: Plan, span: Span, lines: list[str]) -> Edit | None:
    bare = module.code_for_node(plan.old).splitlines(keepends=True)
    last_line = span.end_line - 1 if span.end_column == 1 else span.end_line
    offset = last_line - len(bare)  # the file line of bare[k] is offset + k + 1
    if offset < 0 or last_line > len(lines):
        return None
    # The indentation of the enclosing blocks, which rendering the block alone leaves out (the
    # first rendered line may be the tail of a `def ...:` line: not used).
    prefix = next(
        (
            lines[offset + k][: len(lines[offset + k]) - len(bare[k])]
            for k in range(1, len(bare))
            if bare[k].strip() and lines[offset + k].endswith(bare[k])
        ),
        "",
    )
    if prefix.strip():
        return None
    # Rendered at that depth, not shifted by it afterwards: the lines of a string literal or
    # after a backslash are not the renderer's to indent, and must come out as they are.
    old = _render(module, plan.old, prefix).splitlines(keepends=True)
    rewritten = deepen_continuations(plan.old, plan.new, module.default_indent)
    new = _render(module, rewritten, prefix).splitlines(keepends=True)
    first, last_old, last_new = changed_lines(old, new)
    if len(old) != len(bare):
        return None
    for k in range(first - 1, last_old):
        if lines[offset + k] != old[k]:
            return None
    return Edit(offset + first, 1, offset + last_old + 1, 1, "".join(new[first - 1 : last_new]))


def _render(module: cst.Module, node: cst.CSTNode, indent: str) -> str:
    """`module.code_for_node(node)` as if `node` sat under blocks indented by `indent`."""
    state = CodegenState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        indent_tokens=[indent] if indent else [],
    )
    node._codegen(state)
    return "".join(state.tokens)


def _import_edit(module: cst.Module, plan: Plan) -> Edit | None:
    """The import the plan needs, as a person would add it (see `import_line`)."""
    for source, name in plan.imports:
        if not _imports(module, source, name):
            return import_edit(module, source, name)
    return None
