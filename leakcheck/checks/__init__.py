"""The rules, one module each, and the registry that lists them.

Design (issue 30, "A rule is one module"; ruff's file per rule, Fixit's rule class):

- Each module of this package is one rule, named for the pattern it flags
  (`pool_connection_never_returned.py`). Its docstring is its documentation, under the fixed
  headings (What it does / Why is this bad? / Example / Use instead / Fix safety / Options), and
  it defines one `RULE` (`rule.Rule`): code, kebab-case name, table summary, the verdicts it names
  (a kind family and an escape class of the shared lifetime analysis: `Rule.judges`), its message
  template, whether it is opt-in, the fixes it offers (`fixes`: `model.Recipe` values, in order
  of preference) and its `invalid` / `valid` examples (complete Python; an invalid one with its
  exact (code, line) findings and, where the rule fixes it, the fixed source).
- `RULES` below is the registry: the one list of rules, in the catalogue's order (the order of
  `leakcheck rule --all`, SARIF's rule table and the docs; `rule_for` takes the first rule that
  judges a verdict). `leakcheck rule`, `scripts/gen_rule_docs.py` (docs/rules/*.md, the README's
  table), selection by code or name, SARIF metadata, the language server and the messages all
  read it; nothing reads rules from data any more (`rules/` keeps the kinds and ownership models).
- `tests/test_rule_examples.py` is generated from the examples: each invalid example must give
  exactly its findings and its fixed source, each valid one no finding of its rule.
  `tests/test_rule_modules.py` fails when a rule code is written in Python outside this package.
- Layers: a rule module declares and imports only `rule`; the package sits just above the model,
  below config, so the settings (codes to validate), the Django analysis (its drafts name their
  rule by its module), the fixer and the engine all read the same objects.

`PREFERENCE` below is the order of preference when several verdicts apply to one acquisition
(`analysis/verdicts.PRIORITY` is read from it); `RULES` keeps the catalogue's order, which the
published output (`leakcheck rule --all`, SARIF) follows.

The fixes: a rule names its recipes; the fixer (`fix/offers.py`) maps each recipe to its
function, which checks what it needs (how the resource is bound, a hand-off, the kind's fields),
and `fix/candidates.py` walks the rule's list: the main forms are alternatives (the first that
decides gives the one main rewrite), the others are offered beside it. So a rule changes its
fixes in its own module; a new way of rewriting is a `Recipe` value and its function in the
registry (`tests/test_rule_fixes.py` fails when one is missing). The Django rules' fixes are text
edits drafted with their findings (`analysis/django/`), and the escape classes themselves are
computed once, by the shared analysis (`analysis/verdicts.py`), for every rule.
"""

from __future__ import annotations

from leakcheck.checks import (
    close_after_yield_not_in_finally,
    close_in_finally_after_raising_statement,
    context_manager_called_without_with,
    dependency_session_pinned_by_stream,
    hook_release_skipped_on_error,
    middleware_release_not_in_finally,
    never_closed,
    not_closed_on_early_exit,
    not_closed_on_exception,
    orm_in_thread_without_close,
    orm_via_sync_to_async_in_consumer,
    overwritten_before_close,
    persistent_connections_through_transaction_pooler,
    persistent_connections_under_asgi,
    pool_connection_never_returned,
    pool_connection_not_returned_on_early_exit,
    pool_connection_not_returned_on_exception,
    pool_connection_overwritten_before_return,
    pool_connection_reacquired_in_loop,
    pool_release_after_yield_not_in_finally,
    pool_release_in_finally_after_raising_statement,
    pool_with_persistent_connections,
    reopened_in_loop,
    request_session_handed_to_task,
    scoped_session_outside_request_without_remove,
    server_side_cursors_with_transaction_pooling,
    session_captured_by_stream,
    session_held_across_await,
    startup_options_through_pooler,
    unused_suppression,
)
from leakcheck.checks.rule import Invalid, Rule, Valid

__all__ = [
    "EXAMPLE",
    "PREFERENCE",
    "RULES",
    "Invalid",
    "Rule",
    "Valid",
    "opt_in_codes",
    "rule_for",
    "rules",
]

RULES: tuple[Rule, ...] = (
    pool_connection_never_returned.RULE,
    pool_connection_not_returned_on_exception.RULE,
    pool_connection_not_returned_on_early_exit.RULE,
    pool_release_in_finally_after_raising_statement.RULE,
    pool_connection_overwritten_before_return.RULE,
    pool_connection_reacquired_in_loop.RULE,
    pool_release_after_yield_not_in_finally.RULE,
    never_closed.RULE,
    not_closed_on_exception.RULE,
    not_closed_on_early_exit.RULE,
    close_in_finally_after_raising_statement.RULE,
    overwritten_before_close.RULE,
    reopened_in_loop.RULE,
    close_after_yield_not_in_finally.RULE,
    context_manager_called_without_with.RULE,
    unused_suppression.RULE,
    session_captured_by_stream.RULE,
    session_held_across_await.RULE,
    server_side_cursors_with_transaction_pooling.RULE,
    startup_options_through_pooler.RULE,
    persistent_connections_under_asgi.RULE,
    pool_with_persistent_connections.RULE,
    persistent_connections_through_transaction_pooler.RULE,
    orm_in_thread_without_close.RULE,
    orm_via_sync_to_async_in_consumer.RULE,
    dependency_session_pinned_by_stream.RULE,
    request_session_handed_to_task.RULE,
    hook_release_skipped_on_error.RULE,
    middleware_release_not_in_finally.RULE,
    scoped_session_outside_request_without_remove.RULE,
)

# When several verdicts apply to one acquisition, the one named by the first of these rules is
# reported (`analysis/verdicts.py` reads their escape classes in this order). The session rules
# (LC2xx) mirror them: the same escape classes, in the same order.
PREFERENCE: tuple[Rule, ...] = (
    pool_connection_reacquired_in_loop.RULE,
    pool_connection_overwritten_before_return.RULE,
    pool_connection_not_returned_on_early_exit.RULE,
    pool_release_after_yield_not_in_finally.RULE,
    pool_release_in_finally_after_raising_statement.RULE,
    pool_connection_not_returned_on_exception.RULE,
)

# The rule that help texts and error messages name as an example (`--per-file-ignores`).
EXAMPLE = pool_connection_never_returned.RULE


def rules() -> tuple[Rule, ...]:
    """Every rule, in the registry's order."""
    return RULES


def opt_in_codes() -> frozenset[str]:
    """Rules `select = ["ALL"]` or a prefix does not enable (`opt_in=True` in their module)."""
    return frozenset(rule.code for rule in RULES if rule.opt_in)


def rule_for(family: str, leak: str) -> Rule | None:
    """The rule that names a verdict of this family, if one does: the first in the registry."""
    for rule in RULES:
        if rule.judges(family, leak):
            return rule
    return None
