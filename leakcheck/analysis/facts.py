"""`ModuleFacts`: everything the analysis knows about one module, and what it offers others.

Built in layers, one module each, every one importing only those below it: the shared records
(`records.py`), the first pass and the questions answered from it (`collect.py`), the role each
function plays for resources (`roles.py`), where the module acquires (`sites.py`); judging reads
those. What the module exports (`exports.py`: the module summary) comes last, since a helper's
shape is known only once the judge has passed it, and so does this class, which the rules (judge,
fixes) and the engine take. The records are importable from here.
"""

from __future__ import annotations

from leakcheck.analysis.collect import CONTEXT_DECORATORS
from leakcheck.analysis.exports import exports
from leakcheck.analysis.ownership import param_effects
from leakcheck.analysis.records import (
    Binding,
    Export,
    FunctionInfo,
    ParamEffects,
    Resolver,
    Scope,
    Site,
)
from leakcheck.analysis.sites import SiteFacts

__all__ = [
    "CONTEXT_DECORATORS",
    "Binding",
    "Export",
    "FunctionInfo",
    "ModuleFacts",
    "Resolver",
    "Scope",
    "Site",
]


class ModuleFacts(SiteFacts):
    """What the engine knows about one module: the first pass's facts, with the module's function
    roles closed (factories, releasers, providers) and its sites, and what it offers importers.

    Inputs: the parsed module, the resource kinds, the module's package (for relative imports) and
    a resolver for names imported from other modules of the project (None: a file alone).
    """

    @property
    def param_effects(self) -> dict[str, ParamEffects]:
        """What each function and class of the module does to each parameter (ownership.py)."""
        return param_effects(self)

    def exports(self) -> dict[str, Export]:
        """What this module offers importers (see `exports.exports`)."""
        return exports(self)
