"""Replace methods on classes and put the originals back: the one way recorders patch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leakcheck.gate.recorders import Undo


def patch_methods(patches: list[tuple[type, str, Callable[[Callable[..., Any]], Any]]]) -> Undo:
    """For each (class, name, wrap), set `class.name = wrap(original)`, where `original` is the
    attribute as the class itself defines it (`vars`, so an inherited method is restored by
    deleting the override). Returns the function that restores every original."""
    saved: list[tuple[type, str, Any, bool]] = []
    for cls, name, wrap in patches:
        own = name in vars(cls)
        original = vars(cls)[name] if own else getattr(cls, name)
        setattr(cls, name, wrap(original))
        saved.append((cls, name, original, own))

    def undo() -> None:
        for cls, name, original, own in reversed(saved):
            if own:
                setattr(cls, name, original)
            else:
                delattr(cls, name)

    return undo
